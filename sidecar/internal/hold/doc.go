// Package hold bounds and orders the requests the sidecar holds while a service cannot serve.
//
// Each held request takes a Ticket from a per-service FIFO queue; the queue is bounded per
// service and globally, and a request that does not fit is refused at once (the caller answers
// 503 with Retry-After) instead of queueing without limit. Wake signals the tickets of a service
// in arrival order when something changed for it (an endpoint became ready, the probe found one
// answering, the service changed); each holder then checks again whether it can go. Leave frees
// the slot immediately, whether the request was forwarded, timed out or its client went away.
package hold

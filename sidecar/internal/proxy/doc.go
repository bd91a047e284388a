// Package proxy is the sidecar's request path, modelled on net/http/httputil.ReverseProxy (which
// it uses for the forwarding itself, except for the bodiless HTTP/1 requests that take the lean
// path of lean.go and get the same bytes both ways): one Handler whose behaviour is set through
// documented fields. Waiting is kept apart from forwarding: a waiter (wait.go) picks an endpoint and holds
// a request until one can serve; the Handler holds through it a request that found no endpoint,
// the transport one that every endpoint refused.
//
// For every request the Handler
//  1. identifies the ElastiService from the configured header, Host or :authority (unknown
//     hosts get a 404 JSON body: the sidecar is not an open proxy);
//  2. forwards at once when an endpoint can serve (ready, or answering the sidecar's own probe),
//     reporting activity to the operator for services in proxy mode;
//  3. otherwise holds the request in the bounded per-service queue (503 + Retry-After when
//     full), reports it to the operator, starts probing, and waits until an endpoint can serve
//     (504 JSON after the hold timeout; the slot is freed as soon as the client goes away);
//  4. forwards straight to the pod IP and port, retrying a refused connection on another
//     endpoint while no byte of the body has been read, streaming both bodies in constant memory
//     (including SSE, Upgrade/WebSocket and gRPC over h2c), and adds Server-Timing with the time
//     held.
package proxy

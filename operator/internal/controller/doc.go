// Package controller is the ElastiService controller and the scale-down loop.
//
// The Reconciler decides, from what it sees, where each ElastiService's Service sends traffic
// (decideMode in mode.go holds the whole policy as a truth table): in serve mode the Service's own
// EndpointSlices point at the target's pods and Elasti adds nothing; in proxy mode Elasti adds
// EndpointSlices of its own (endpointslices.go) that list the resolver sidecars, one per address
// family, with ready conditions and every TCP Service port mapped to the sidecar's proxy port. The
// Service object itself is never modified. Status, conditions, Events and metrics record what the
// Reconciler saw and did; a finalizer lets it restore the Service and the target on deletion.
//
// The ScaleDownLoop runs on the leader only. It evaluates triggers, and when a target has been
// idle for its cooldown it switches the Service to proxy mode first, waits until every ready
// sidecar acknowledged the service, then scales the target to zero — unless a request arrived in
// between. The two share a Tracker (in memory, per leader).
//
// Scaling itself is pkg/scaling's ScaleHandler; triggers are operator/internal/triggers; waking
// targets and feeding sidecars is operator/internal/elastiserver.
package controller

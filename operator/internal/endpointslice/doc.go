// Package endpointslice holds what the controller and the stream to the sidecars must agree on
// about a Service's EndpointSlices: which slices are Elasti's own proxy-mode slices (IsElastis,
// ServiceSlices) and which endpoint of the target can serve (Ready). The controller counts ready
// endpoints to leave proxy mode; the stream tells sidecars which pods to forward to. With one
// definition, a pod the controller does not count is never one a sidecar forwards to.
package endpointslice

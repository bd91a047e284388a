// Package probe lets the sidecar find out that a woken pod can serve before the kubelet says
// so: while requests are held for a service, it runs the pods' own readiness probe (HTTP or
// TCP, as the operator streamed it) against every endpoint that is not ready yet, at a short
// interval, and marks the endpoints that answer in the registry, which wakes the held requests.
//
// The kubelet probes every periodSeconds (10s by default) and the EndpointSlice change then
// travels through the API server and the operator; probing directly cuts a cold start by up to
// that much. Only pods that declared an HTTP or TCP readiness probe are probed: a pod whose
// readiness is an exec probe (or none) is trusted to the kubelet.
package probe

// Package metrics defines the sidecar's Prometheus metrics on its own registry (the sidecar runs
// in someone else's pod and must not touch global state). Label values are bounded: namespace
// and service only ever name services present in the operator's stream (requests for unknown
// hosts are counted with empty labels), and Forget drops a service's series when it leaves the
// stream.
package metrics

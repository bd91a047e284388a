// Package stream defines the wire format between the operator's elastiserver and the resolver
// sidecars: a long-lived HTTPS stream of newline-delimited JSON Messages from operator to
// sidecar, and Acks from sidecar to operator. docs/stream.md is the human description; this
// package is the one definition both sides compile against.
//
// The sidecar has no Kubernetes API access: everything it needs to know (which services have an
// ElastiService, their host names, ClusterIPs, ports, pod endpoints and readiness, and the pods'
// readiness probes) arrives here.
package stream

// Package ports allocates resolver sidecar ports to Service ports.
//
// Every TCP port of every Service an ElastiService manages gets its own port from a range set by
// the operator's --sidecar-port-range flag, unique in the cluster. In proxy mode the Service's
// EndpointSlices map each Service port to its sidecar port, so the port a connection arrives on
// tells a sidecar which Service it is for: ingress controllers that connect to endpoint addresses
// directly with an external Host need no per-route configuration, and no Host or header can make
// a sidecar serve a Service other than the one the connection was routed to.
//
// The allocation is persisted in each ElastiService's status (status.sidecarPorts). The allocator
// is only an index of those statuses, loaded once from the API server when the leader starts, so
// it survives operator restarts and leader changes.
package ports

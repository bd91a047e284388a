// Package elastiserver is the operator's HTTPS endpoint for resolver sidecars: its Server
// receives events from the resolver and scales through the ScaleHandler.
//
// Every operator replica runs it (it is not leader-elected) and answers from the manager's
// caches:
//
//   - POST /informer/incoming-request: a sidecar holds requests for a service at zero and asks
//     for a wake-up with a messages.RequestCount. The server scales the target from zero through
//     the ScaleHandler (idempotent and compare-and-set, so any replica may do it) and marks the
//     ElastiService active (names.AnnotationLastActivity) so that the leader cancels a scale-down
//     in progress.
//   - GET /sidecar/v1/stream: a never-ending NDJSON stream of pkg/stream Messages telling a
//     sidecar everything it needs about every ElastiService (hosts, ports, endpoints, readiness
//     probe). Each stream gets a snapshot, then updates; a stream that falls behind is coalesced
//     (it receives the latest state of what changed, never a backlog).
//   - POST /sidecar/v1/ack: a sidecar says which services it knows; the server records the
//     changes in the sidecar's acknowledgement Lease in Elasti's namespace (package acks), where
//     the leader reads them before scaling a target to zero. The operator never writes pods.
//
// Every request is authenticated (package auth): only trusted sidecars (package trust) get in. docs/elastiserver.md and docs/stream.md describe the answers and the wire format.
package elastiserver

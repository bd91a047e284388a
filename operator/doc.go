// Package operator assembles Elasti's operator: one controller-runtime manager that runs
//
//   - the ElastiService controller and the scale-down loop (internal/controller), on the leader
//     only: they decide serve or proxy mode, own the proxy EndpointSlices and scale idle targets
//     to zero;
//   - the elastiserver (internal/elastiserver), on every replica: RequestCounts from resolver
//     sidecars wake targets through pkg/scaling, and the sidecar stream tells sidecars what they
//     need, authenticated by TokenReview (internal/auth);
//   - trigger evaluation against Prometheus (internal/triggers).
//
// cmd/operator only parses flags into Options and calls Run. docs/operator.md describes the
// behaviour, flags and metrics.
package operator

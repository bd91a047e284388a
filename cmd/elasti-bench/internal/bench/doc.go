// Package bench is elasti-bench: it sets up a namespace with the demo gateway (carrying the
// resolver sidecar) and demo apps, then measures
//
//   - cold starts: a request through the gateway to a Service at zero. Total is what the client
//     waited; held is the sidecar's Server-Timing; app ready is when the app logged "listening"
//     (the kubelet's log timestamp, or the pod's Ready condition when the log has no such line);
//     overhead is total minus the time until the app was ready, i.e. what Elasti added after
//     the application itself could answer. For 1 service (several rounds) and for N services
//     woken at once.
//   - the forward path: sequential requests on one kept-alive connection, and a fixed-concurrency
//     throughput run, straight to the pod and through the sidecar's proxy port (serve mode, so
//     the sidecar forwards at once).
//   - memory: the resident set of the sidecar and operator containers, read from /proc on the node.
//
// Results are a Report, printed as a table and written as JSON and Markdown. The targets
// are judged by evaluate (targets.go), a pure function of the Report: a target is met only when
// every sample asked for is present and nothing failed, and the report says why otherwise.
package bench

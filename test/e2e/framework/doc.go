// Package framework is the scaffolding of Elasti's end-to-end suite (test/e2e) and of the
// cold-start benchmark (cmd/elasti-bench): clients for any kubeconfig, one namespace per test that
// is removed afterwards, builders for the demo app, the demo gateway and ElastiServices, waits with
// clear timeouts that print what was last seen, and HTTP clients that reach a Service through a
// gateway pod the way a user's traffic does.
//
// The suite talks to pod IPs and ClusterIPs directly, so it runs on a machine that is a node of
// the cluster (the local cluster of hack/cluster, or inside a kind node as hack/e2e-kind.sh does).
// Preflight says so and skips, with the reason, when that is not the case.
package framework

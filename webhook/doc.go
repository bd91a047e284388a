// Package webhook wires Elasti's mutating admission webhook binary (cmd/webhook): the TLS server
// with the pod handler (every replica), the namespace label mirror and the uninjected-pod checker
// (leader only), and, in self-managed certificate mode, the certificate manager (every replica,
// optimistic concurrency). The logic lives in internal/: inject (the truth table and the patch),
// admission (HTTP), nslabel (controllers) and certs. docs/webhook.md is the user-facing description.
package webhook

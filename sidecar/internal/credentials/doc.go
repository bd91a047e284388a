// Package credentials gives the sidecar what it needs to talk to the operator: a TLS
// configuration that trusts the CA bundle the webhook injected, and the projected
// ServiceAccount token, read from its file on every use so that the kubelet's rotation is
// picked up without a restart.
package credentials

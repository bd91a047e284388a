// Package certs is the webhook's built-in certificate mode for clusters without cert-manager,
// and the CA-bundle file reader both modes use.
//
// In self-managed mode every webhook replica runs Manager: it keeps a CA (Secret elasti-ca, 1-year
// lifetime) and a serving certificate (Secret elasti-tls: tls.crt, tls.key, ca.crt; 90 days; DNS
// names of the webhook and operator Services), renews each at 2/3 of its lifetime, writes the
// files into the webhook's cert directory (controller-runtime's certwatcher reloads them) and
// writes ca.crt into the MutatingWebhookConfiguration's caBundle.
//
// Concurrency between replicas is optimistic, not leader-elected: every write is a Create (which
// fails with AlreadyExists for the loser) or an Update carrying the resourceVersion that was read
// (which fails with Conflict), after which the replica re-reads and adopts what the winner wrote.
// Leader election would make a non-leader replica wait for the leader before it could serve TLS at
// all, while the writes here are rare, idempotent and safe to lose.
//
// After a CA renewal, ca.crt holds the new and the previous CA until the previous one expires, so
// clients that still hold a leaf signed by the old CA (the operator reloads its mounted Secret
// with the kubelet's delay) keep verifying.
package certs

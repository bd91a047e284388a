// Package trust decides which resolver sidecars Elasti trusts. The controller lists only trusted
// sidecars in proxy-mode EndpointSlices (they receive the Service's requests), and the
// elastiserver signs in only trusted sidecars (they read the stream and wake targets). Both ask
// the same question through Policy, so the two can never disagree.
//
// A label and a container name can be set by anyone who can create a pod. What a forger cannot
// set is the opt-in of the pod's namespace: only a cluster admin can annotate a Namespace. So a
// sidecar is trusted when its pod passes every rule in Rules, the namespace's opt-in among them;
// docs/security.md renders the same table (a test keeps the two equal) and says what remains
// trusted: anyone who can create pods in an opted-in namespace.
package trust

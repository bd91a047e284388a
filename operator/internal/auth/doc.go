// Package auth decides who is calling the elastiserver. Only resolver sidecars may wake a target,
// hold it awake, or learn which services exist; they prove who they are with a projected
// ServiceAccount token (audience names.DefaultAudience unless the operator is told otherwise)
// that the kubelet binds to their pod.
//
// Authenticate checks, in order:
//
//  1. the request carries "Authorization: Bearer <token>";
//  2. the token looks like a projected token for us (precheck.go): a JWT whose unverified
//     claims name our audience and have not expired. Anything else is refused without a request,
//     so garbage never reaches the API server. The unverified claims are used only to refuse;
//  3. a TokenReview accepts the token for our audience. Reviews are rate-limited
//     (Options.ReviewsPerSecond: a forger can write a JWT that passes step 2), shared by
//     concurrent callers with the same token, and cached: a trusted sidecar's review until shortly
//     before its token expires, in a cache only trusted sidecars can fill (cache.go), so a
//     sidecar's steady traffic costs one review per token and no flood can evict it;
//  4. the token is bound to a pod (user.extra authentication.kubernetes.io/pod-name and
//     pod-uid), which rules out long-lived Secret-based tokens and tokens of other workloads;
//  5. that pod exists with that UID and carries a sidecar Elasti trusts (package trust: the
//     resolver label and container, the injected image, and a namespace a cluster admin opted
//     in), the same rules the controller applies before it lists a sidecar in a proxy slice.
//
// Step 5 reads the manager's cache, so it is cheap and is done on every request: a pod that
// loses its label or is deleted loses access at once, whatever the cache of step 2 says.
package auth

package controller

// RBAC of the whole operator binary (controller, scale-down loop, ScaleHandler, elastiserver,
// authenticator, acknowledgement Leases). `make manifests` generates
// manifests/base/rbac/operator/role.yaml from these markers: a ClusterRole elasti-operator, and a
// Role for the Leases in elasti-system. Every verb is here because a code path needs it (the
// comment says which); docs/operator.md has the same list. The operator holds no write access to
// pods (TestGeneratedRoleCannotWritePods) and no access to Secrets (a separate, unbound
// ClusterRole grants get on trigger Secrets where a cluster admin binds it).
//
// ElastiServices: read and watched; patched to add and remove the finalizer (optimistic lock) and
// the elastiserver's last-activity annotation.
// +kubebuilder:rbac:groups=elasti.dev,resources=elastiservices,verbs=get;list;watch;patch
// Status: mode, conditions, timestamps (controller, loop, ScaleHandler's lastScaledUpTime), all
// written with merge patches.
// +kubebuilder:rbac:groups=elasti.dev,resources=elastiservices/status,verbs=patch
// Finalizers: needed to set blockOwnerDeletion on the owner references of our EndpointSlices.
// +kubebuilder:rbac:groups=elasti.dev,resources=elastiservices/finalizers,verbs=update
// EndpointSlices: the Service's own (to see ready pods) and ours (proxy mode), which we create,
// update and delete.
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch;create;update;delete
// Services: read only (ports, families, ClusterIPs for the sidecar stream); never modified.
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// Pods: read only. Resolver sidecars (slice endpoints, the token's bound pod) and target pods
// (readiness probes, termination). Acknowledgements are Leases, not pod annotations.
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// Namespaces: read only, for the opt-in annotation that decides whether a sidecar is trusted.
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// Deployments and StatefulSets: watched to notice a scale to or from zero done by anyone.
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch
// /scale of any target kind: read and set replicas (ScaleHandler: get, then a compare-and-set
// update). A wildcard because a target may be any resource with a scale subresource (Deployments
// and StatefulSets, Argo Rollouts, custom resources), which no fixed list can name; it grants only
// the replica count, never the object itself. docs/operator.md says how to narrow it.
// +kubebuilder:rbac:groups="*",resources=*/scale,verbs=get;update
// KEDA ScaledObjects: read (cached) and annotated to pause or unpause.
// +kubebuilder:rbac:groups=keda.sh,resources=scaledobjects,verbs=get;list;watch;patch
// Events about ElastiServices (events.k8s.io API, with the core API for older recorders).
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// TokenReviews: the elastiserver checks sidecar tokens.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// Leases, only in the operator's namespace (generated as a Role): leader election (get, create,
// update) and the sidecars' acknowledgement Leases (cached: list, watch; create, patch; the
// leader deletes those of gone pods).
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete,namespace=elasti-system

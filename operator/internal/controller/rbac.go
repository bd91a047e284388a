package controller

// RBAC of the whole operator binary (controller, scale-down loop, ScaleHandler, elastiserver,
// authenticator). `make manifests` generates manifests/base/rbac/operator/role.yaml from these
// markers: a ClusterRole elasti-operator, and a Role for the leases in elasti-system.
//
// ElastiServices: read and watched; updated only to add and remove the finalizer.
// +kubebuilder:rbac:groups=elasti.dev,resources=elastiservices,verbs=get;list;watch;update;patch
// Status: mode, conditions, timestamps (controller, loop, ScaleHandler's lastScaledUpTime).
// +kubebuilder:rbac:groups=elasti.dev,resources=elastiservices/status,verbs=get;update;patch
// Finalizers: needed to set blockOwnerDeletion on the owner references of our EndpointSlices.
// +kubebuilder:rbac:groups=elasti.dev,resources=elastiservices/finalizers,verbs=update
// EndpointSlices: the Service's own (to see ready pods) and ours (proxy mode), which we manage.
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch;create;update;patch;delete
// Services: read only (ports, families, ClusterIPs for the sidecar stream); never modified.
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// Pods: resolver sidecars (slice endpoints, token's bound pod) and target pods (probes); patch
// writes the acked-services annotation on sidecar pods.
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch
// Namespaces: read only, for the opt-in annotation that decides whether a sidecar is trusted.
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// Deployments and StatefulSets: watched to notice a scale to or from zero done by anyone.
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch
// /scale of Deployments and StatefulSets: read and set replicas (ScaleHandler).
// +kubebuilder:rbac:groups=apps,resources=deployments/scale;statefulsets/scale,verbs=get;update;patch
// /scale of any other target kind (Argo Rollouts, custom resources with a scale subresource).
// +kubebuilder:rbac:groups="*",resources=*/scale,verbs=get;update;patch
// KEDA ScaledObjects: read (cached) and annotated to pause or unpause.
// +kubebuilder:rbac:groups=keda.sh,resources=scaledobjects,verbs=get;list;watch;patch
// Events about ElastiServices (events.k8s.io API, with the core API for older recorders).
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// TokenReviews: the elastiserver checks sidecar tokens.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// Leases for leader election, only in the operator's namespace (generated as a Role).
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete,namespace=elasti-system

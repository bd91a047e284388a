// Package names holds the names every Elasti component agrees on: annotations, labels, ports,
// paths and defaults. Keeping them in one place is what lets the webhook, the operator and the
// sidecar be built and changed separately.
package names

const (
	// Group is Elasti's API group and the prefix of its annotations and labels.
	Group = "elasti.dev"

	// AnnotationInject on a Namespace opts it in ("enabled"); on a Pod, "disabled" opts it out.
	AnnotationInject = "elasti.dev/inject"
	// InjectEnabled and InjectDisabled are the values of AnnotationInject.
	InjectEnabled  = "enabled"
	InjectDisabled = "disabled"
	// LabelInject mirrors a Namespace's AnnotationInject as a label, so that the
	// MutatingWebhookConfiguration's namespaceSelector can see it (selectors see only labels).
	LabelInject = "elasti.dev/inject"
	// AnnotationGateway "true" on a Pod marks it as a gateway pod.
	AnnotationGateway = "elasti.dev/gateway"
	// AnnotationGatewaySelector on a Namespace is a label selector for its gateway pods.
	AnnotationGatewaySelector = "elasti.dev/gateway-selector"

	// LabelResolver is set ("true") by the webhook on every pod that carries the resolver sidecar;
	// the operator finds sidecars by it.
	LabelResolver = "elasti.dev/resolver"
	// AnnotationSidecarStatus lists exactly what the webhook injected (JSON), so a reinvocation can
	// strip it and inject again.
	AnnotationSidecarStatus = "elasti.dev/sidecar-status"
	// LabelComponent marks Elasti's own pods (the webhook's objectSelector excludes them).
	LabelComponent = "elasti.dev/component"

	// Per-pod override annotations read by the webhook.
	AnnotationSidecarImage     = "elasti.dev/sidecar-image"
	AnnotationSidecarProxyPort = "elasti.dev/sidecar-proxy-port"
	AnnotationSidecarAdminPort = "elasti.dev/sidecar-admin-port"
	AnnotationSidecarCPU       = "elasti.dev/sidecar-cpu"
	AnnotationSidecarMemory    = "elasti.dev/sidecar-memory"
	AnnotationSidecarLogLevel  = "elasti.dev/sidecar-log-level"

	// AnnotationLastActivity is patched on an ElastiService by the elastiserver (RFC 3339, at most
	// every few seconds) when a RequestCount for it is accepted; the leader reads it to cancel a
	// scale-down in progress and to restart the cooldown.
	AnnotationLastActivity = "elasti.dev/last-activity"

	// PortNameProxy and PortNameAdmin name the sidecar container's ports; the operator maps every
	// Service port to the port named PortNameProxy in proxy mode.
	PortNameProxy = "elasti-proxy"
	PortNameAdmin = "elasti-admin"

	// SidecarContainerName is the name of the injected container.
	SidecarContainerName = "elasti-resolver"
	// SidecarTokenVolume is the projected ServiceAccount token volume mounted into the sidecar.
	SidecarTokenVolume = "elasti-token"
	// SidecarTokenDir and SidecarTokenFile: where the sidecar reads its token.
	SidecarTokenDir  = "/var/run/secrets/elasti.dev"
	SidecarTokenFile = SidecarTokenDir + "/token"
	// SidecarTokenExpirySeconds is the projected token's expiry (the kubelet rotates it at 80%).
	SidecarTokenExpirySeconds = 600
	// EnvCABundle carries the PEM CA bundle the sidecar uses to verify the operator's certificate,
	// as it was when the pod was created.
	EnvCABundle = "ELASTI_OPERATOR_CA"
	// OperatorCAConfigMap is the ConfigMap the webhook keeps in every opted-in namespace with the
	// current bundle under OperatorCAKey; the sidecar sees it as SidecarCAFile (projected into the
	// token volume, optional), so a CA rotation reaches running sidecars.
	OperatorCAConfigMap = "elasti-operator-ca"
	OperatorCAKey       = "ca.crt"
	SidecarCAFile       = SidecarTokenDir + "/" + OperatorCAKey
	// LabelCAPublisher marks the ConfigMaps the webhook publishes (and may delete).
	LabelCAPublisher = "elasti.dev/ca-publisher"

	// DefaultAudience is the audience of sidecar tokens; the operator accepts only this audience.
	DefaultAudience = "elasti.dev/resolver"

	// Default ports.
	DefaultProxyPort        = 8012
	DefaultElastiServerPort = 8013
	DefaultAdminPort        = 8014

	// SystemNamespace is where Elasti runs.
	SystemNamespace = "elasti-system"
	// OperatorServiceName is the Service of the operator's elastiserver.
	OperatorServiceName = "elasti-operator"
	// DefaultOperatorURL is what the sidecar connects to.
	DefaultOperatorURL = "https://elasti-operator.elasti-system.svc:8013"
	// DefaultClusterDomain is the cluster's DNS domain.
	DefaultClusterDomain = "cluster.local"

	// ControllerName is the value of endpointslice.kubernetes.io/managed-by on slices Elasti owns.
	// It is a label value, so it cannot contain '/' (the API server rejects "elasti.dev/operator");
	// it follows Kubernetes' own "endpointslice-controller.k8s.io".
	ControllerName = "operator.elasti.dev"
	// Finalizer on ElastiServices: the operator restores the Service and the target before deletion.
	Finalizer = "elasti.dev/finalizer"
	// LabelElastiService on objects the operator creates names the owning ElastiService.
	LabelElastiService = "elasti.dev/elastiservice"

	// KEDA pause annotations on a ScaledObject.
	KEDAPausedAnnotation         = "autoscaling.keda.sh/paused"
	KEDAPausedReplicasAnnotation = "autoscaling.keda.sh/paused-replicas"
)

package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Mode says where a Service's traffic goes.
// +kubebuilder:validation:Enum=serve;proxy
type Mode string

const (
	// ModeServe: the Service points at the target's pods; Elasti is not in the path.
	ModeServe Mode = "serve"
	// ModeProxy: the Service points at the resolver sidecars, which hold requests and wake the target.
	ModeProxy Mode = "proxy"
)

// Condition types written on an ElastiService.
const (
	// ConditionReady is True when the operator has reconciled the ElastiService and the Service
	// reaches something that answers: the target's pods (serve) or ready resolver sidecars (proxy).
	ConditionReady = "Ready"
	// ConditionScaledToZero is True while the target sits at zero replicas.
	ConditionScaledToZero = "ScaledToZero"
	// ConditionTriggersHealthy is False when a trigger could not be evaluated; nothing is scaled
	// down while it is False.
	ConditionTriggersHealthy = "TriggersHealthy"
)

// TriggerType names a kind of scale-to-zero trigger.
// +kubebuilder:validation:Enum=prometheus;traffic
type TriggerType string

const (
	// TriggerTypePrometheus evaluates a Prometheus instant query against a threshold.
	TriggerTypePrometheus TriggerType = "prometheus"
	// TriggerTypeTraffic counts the requests the resolver sidecars see, with nothing else
	// installed: the leader moves the Service to proxy mode for a while (an observation, its pods
	// still serving through the sidecars) and the target is idle while the observed rate is at or
	// below the threshold (docs/operator.md, "Traffic trigger").
	TriggerTypeTraffic TriggerType = "traffic"
)

// AutoscalerType names an autoscaler that also manages the target.
// +kubebuilder:validation:Enum=hpa;keda
type AutoscalerType string

const (
	// AutoscalerHPA is a HorizontalPodAutoscaler; it leaves a target at zero alone.
	AutoscalerHPA AutoscalerType = "hpa"
	// AutoscalerKEDA is a KEDA ScaledObject; it is paused before a scale to zero and unpaused after a
	// scale from zero.
	AutoscalerKEDA AutoscalerType = "keda"
)

// ElastiServiceSpec says which Service to scale to zero, what to scale, and when.
// +kubebuilder:validation:XValidation:rule="!has(self.wakeBurst) || self.wakeBurst.maxReplicas >= (has(self.minTargetReplicas) ? self.minTargetReplicas : 1)",message="wakeBurst.maxReplicas must be at least minTargetReplicas"
type ElastiServiceSpec struct {
	// Service is the name of the Service, in the ElastiService's namespace, that clients call.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="service must be a Service name: lowercase letters, digits and '-', starting with a letter"
	Service string `json:"service"`

	// ScaleTargetRef names the workload behind the Service: any resource with a /scale subresource
	// (Deployment, StatefulSet, Argo Rollout, custom).
	ScaleTargetRef ScaleTargetRef `json:"scaleTargetRef"`

	// MinTargetReplicas is how many replicas a wake-up scales the target to.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinTargetReplicas int32 `json:"minTargetReplicas,omitempty"`

	// WakeBurst sizes a wake-up to the requests held at once: instead of minTargetReplicas, the
	// target is scaled from zero to ceil(held / requestsPerReplica) replicas, at least
	// minTargetReplicas and at most maxReplicas. Requests still arriving while the target starts
	// raise it further, up to maxReplicas, for two minutes after the scale from zero; never lower.
	// A named HPA or KEDA ScaledObject takes over from there as it would after any scale-up.
	// +optional
	WakeBurst *WakeBurst `json:"wakeBurst,omitempty"`

	// CooldownPeriod is how long, in seconds, every trigger must say idle (and the target must have
	// been up) before the target is scaled to zero. 0 scales down as soon as the triggers say idle.
	// +kubebuilder:default=900
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=604800
	// +optional
	CooldownPeriod *int32 `json:"cooldownPeriod,omitempty"`

	// Triggers decide when the target is idle. All of them must say idle. Without triggers the
	// target is never scaled down by Elasti, but a target scaled to zero by hand is still woken.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.filter(t, t.type == 'traffic').size() <= 1",message="at most one traffic trigger"
	// +optional
	Triggers []ScaleTrigger `json:"triggers,omitempty"`

	// Autoscaler names an HPA or a KEDA ScaledObject that also scales the target.
	// +optional
	Autoscaler *AutoscalerSpec `json:"autoscaler,omitempty"`

	// EnabledPeriod limits scale-downs to a recurring window. Outside it the target is never
	// scaled to zero (wake-ups still happen at any time).
	// +optional
	EnabledPeriod *EnabledPeriod `json:"enabledPeriod,omitempty"`
}

// WakeBurst sizes a wake-up to the number of requests the resolver sidecars hold for the Service.
type WakeBurst struct {
	// RequestsPerReplica is how many requests held at once one replica is sized for.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	RequestsPerReplica int32 `json:"requestsPerReplica"`
	// MaxReplicas caps a wake-up (at least minTargetReplicas).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxReplicas int32 `json:"maxReplicas"`
}

// ScaleTargetRef names a resource with a /scale subresource.
type ScaleTargetRef struct {
	// APIVersion of the target, e.g. apps/v1.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9.-]+/)?v[0-9]+((alpha|beta)[0-9]+)?$')",message="apiVersion must look like 'apps/v1' or 'v1'"
	APIVersion string `json:"apiVersion"`
	// Kind of the target, e.g. Deployment. KubeElasti's resource names "deployments" and
	// "rollouts" are accepted too and mean Deployment and Rollout (see CanonicalKind).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Z][A-Za-z0-9]*$') || self in ['deployments', 'rollouts']",message="kind must be a Kind such as Deployment or StatefulSet (or KubeElasti's deployments or rollouts)"
	Kind string `json:"kind"`
	// Name of the target, in the ElastiService's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// ScaleTrigger is one signal of activity.
// +kubebuilder:validation:XValidation:rule="self.type != 'prometheus' || (has(self.metadata.query) && size(self.metadata.query) > 0)",message="a prometheus trigger needs metadata.query"
// +kubebuilder:validation:XValidation:rule="self.type != 'prometheus' || !has(self.metadata.window)",message="metadata.window is for traffic triggers only"
// +kubebuilder:validation:XValidation:rule="self.type != 'traffic' || (!has(self.metadata.query) && !has(self.metadata.serverAddress) && !has(self.metadata.uptimeFilter) && !has(self.metadata.headers) && !has(self.metadata.authSecretRef))",message="a traffic trigger takes only metadata.threshold and metadata.window (query, serverAddress, uptimeFilter, headers and authSecretRef are for prometheus triggers)"
type ScaleTrigger struct {
	// Type of the trigger: prometheus or traffic.
	Type TriggerType `json:"type"`
	// Metadata configures the trigger.
	Metadata TriggerMetadata `json:"metadata"`
}

// TriggerMetadata configures a trigger. prometheus: the target is idle while the query's value is
// below the threshold. traffic: the target is idle while the rate of requests the sidecars saw
// over the window is at or below the threshold (requests per second; default 0: any request is
// activity).
type TriggerMetadata struct {
	// Query is a PromQL instant query. With several series the largest value counts; an empty
	// result is an error (append `or vector(0)` to make "no data" mean idle).
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Query string `json:"query,omitempty"`
	// ServerAddress is the Prometheus base URL; the operator's --prometheus-address is used when
	// empty. Any other address must be one the operator allows (--prometheus-allowed-addresses):
	// the operator sends requests only to addresses its admin chose.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self == '' || self.matches('^https?://[^ ]+$')",message="serverAddress must be an http:// or https:// URL"
	// +optional
	ServerAddress string `json:"serverAddress,omitempty"`
	// Threshold: prometheus: the target is idle while the query's value is strictly below it;
	// traffic: idle while the observed requests per second are at or below it (default 0). A number or a
	// string holding a number ("0.5"). The schema cannot type a value that may be either (CEL does
	// not see schemaless fields), so a non-numeric threshold is reported by the operator in the
	// TriggersHealthy condition and a TriggerError Event, and never scales anything down.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Threshold *apiextensionsv1.JSON `json:"threshold,omitempty"`
	// Window is how far back a traffic trigger measures the request rate, as a Go duration
	// (default 1m; at most 1h). While an observation is younger than the window, the rate is
	// measured over the observation so far (at least a second).
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="window must be a Go duration between 1s and 1h, such as 30s or 5m"
	// +optional
	Window string `json:"window,omitempty"`
	// UptimeFilter is a label filter for Prometheus' own `up` series (e.g. container="prometheus").
	// While that series is missing or not 1, or Prometheus has been up for less than the cooldown,
	// the trigger reports an error and nothing is scaled down.
	// +optional
	UptimeFilter string `json:"uptimeFilter,omitempty"`
	// Headers are sent with every query. Only tenant headers are allowed: X-Scope-OrgID (Cortex,
	// Mimir, Loki) and THANOS-TENANT (Thanos). Credentials go in AuthSecretRef, never here.
	// +kubebuilder:validation:MaxProperties=4
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.lowerAscii() in ['x-scope-orgid', 'thanos-tenant'])",message="headers: only the tenant headers X-Scope-OrgID and THANOS-TENANT are allowed; put credentials in authSecretRef"
	// +optional
	Headers map[string]string `json:"headers,omitempty"`
	// AuthSecretRef names a Secret in the ElastiService's namespace with the credentials of
	// ServerAddress: the key bearerToken (sent as "Authorization: Bearer"), or the keys username
	// and password (basic auth). The Secret must be labelled elasti.dev/trigger-auth=true, and the
	// operator must be allowed to read it (see docs/operator.md).
	// +optional
	AuthSecretRef *SecretReference `json:"authSecretRef,omitempty"`
}

// SecretReference names a Secret in the ElastiService's namespace.
type SecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// AutoscalerSpec names another autoscaler of the target.
type AutoscalerSpec struct {
	// Type is hpa or keda.
	Type AutoscalerType `json:"type"`
	// Name of the HorizontalPodAutoscaler or ScaledObject in the ElastiService's namespace.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// EnabledPeriod is a recurring window: it opens at each time the cron schedule fires and stays
// open for duration.
type EnabledPeriod struct {
	// Schedule is a 5-field cron expression (minute hour day-of-month month day-of-week), e.g.
	// "0 9 * * 1-5", or a descriptor such as @daily. Default "0 0 * * *" (daily at midnight),
	// with a duration of 24h, as in KubeElasti.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.startsWith('@') ? self.matches('^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$') : self.split(' ').filter(f, f != '').size() == 5",message="schedule must be a 5-field cron expression 'minute hour day-of-month month day-of-week' (e.g. \"0 9 * * 1-5\") or one of @yearly, @monthly, @weekly, @daily, @hourly"
	// +kubebuilder:validation:XValidation:rule="self.startsWith('@') || self.split(' ').filter(f, f != '').size() != 5 || self.split(' ').filter(f, f != '')[0].matches('^([*]|[0-5]?[0-9](-[0-5]?[0-9])?)(/[0-9]+)?(,([*]|[0-5]?[0-9](-[0-5]?[0-9])?)(/[0-9]+)?)*$')",message="schedule: the minute field (1st) must be *, 0-59, a range, a list or a step such as */15"
	// +kubebuilder:validation:XValidation:rule="self.startsWith('@') || self.split(' ').filter(f, f != '').size() != 5 || self.split(' ').filter(f, f != '')[1].matches('^([*]|(1?[0-9]|2[0-3])(-(1?[0-9]|2[0-3]))?)(/[0-9]+)?(,([*]|(1?[0-9]|2[0-3])(-(1?[0-9]|2[0-3]))?)(/[0-9]+)?)*$')",message="schedule: the hour field (2nd) must be *, 0-23, a range, a list or a step"
	// +kubebuilder:validation:XValidation:rule="self.startsWith('@') || self.split(' ').filter(f, f != '').size() != 5 || self.split(' ').filter(f, f != '')[2] == '?' || self.split(' ').filter(f, f != '')[2].matches('^([*]|([1-9]|[12][0-9]|3[01])(-([1-9]|[12][0-9]|3[01]))?)(/[0-9]+)?(,([*]|([1-9]|[12][0-9]|3[01])(-([1-9]|[12][0-9]|3[01]))?)(/[0-9]+)?)*$')",message="schedule: the day-of-month field (3rd) must be *, 1-31, a range, a list or a step"
	// +kubebuilder:validation:XValidation:rule="self.startsWith('@') || self.split(' ').filter(f, f != '').size() != 5 || self.split(' ').filter(f, f != '')[3].matches('^([*]|([1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))(-([1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)))?)(/[0-9]+)?(,([*]|([1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))(-([1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)))?)(/[0-9]+)?)*$')",message="schedule: the month field (4th) must be *, 1-12 or JAN-DEC, a range, a list or a step"
	// +kubebuilder:validation:XValidation:rule="self.startsWith('@') || self.split(' ').filter(f, f != '').size() != 5 || self.split(' ').filter(f, f != '')[4] == '?' || self.split(' ').filter(f, f != '')[4].matches('^([*]|([0-7]|(?i:sun|mon|tue|wed|thu|fri|sat))(-([0-7]|(?i:sun|mon|tue|wed|thu|fri|sat)))?)(/[0-9]+)?(,([*]|([0-7]|(?i:sun|mon|tue|wed|thu|fri|sat))(-([0-7]|(?i:sun|mon|tue|wed|thu|fri|sat)))?)(/[0-9]+)?)*$')",message="schedule: the day-of-week field (5th) must be *, 0-7 or SUN-SAT, a range, a list or a step"
	// +kubebuilder:default="0 0 * * *"
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// Duration is how long the window stays open, as a Go duration such as 8h or 1h30m.
	// +kubebuilder:default="24h"
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="duration must be a positive Go duration such as 30m, 8h or 1h30m"
	Duration string `json:"duration,omitempty"`
	// TimeZone is an IANA time zone name for the schedule (e.g. Europe/Berlin). Default UTC.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$')",message="timeZone must be an IANA time zone name such as UTC or Europe/Berlin"
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
}

// ElastiServiceStatus is what the operator observed and did.
type ElastiServiceStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Mode is serve (Service → pods) or proxy (Service → resolver sidecars).
	// +optional
	Mode Mode `json:"mode,omitempty"`
	// Conditions: Ready, ScaledToZero, TriggersHealthy.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastScaledUpTime is when the operator last scaled the target from zero.
	// +optional
	LastScaledUpTime *metav1.Time `json:"lastScaledUpTime,omitempty"`
	// LastScaledDownTime is when the operator last scaled the target to zero.
	// +optional
	LastScaledDownTime *metav1.Time `json:"lastScaledDownTime,omitempty"`
	// LastReconciledTime is when the operator last reconciled the ElastiService.
	// +optional
	LastReconciledTime *metav1.Time `json:"lastReconciledTime,omitempty"`
	// SidecarPorts are the resolver sidecar ports the operator allocated to the Service's TCP
	// ports, one each, unique in the cluster. In proxy mode the Service's EndpointSlices map each
	// Service port to its sidecar port, and the port a connection arrives on tells a sidecar which
	// Service (and which of its ports) the request is for, whatever its Host says.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	SidecarPorts []SidecarPort `json:"sidecarPorts,omitempty"`
	// Traffic is what the traffic trigger observed (written by the leader; absent without a
	// traffic trigger).
	// +optional
	Traffic *TrafficStatus `json:"traffic,omitempty"`
}

// TrafficStatus is what the leader knows of a Service's traffic from the resolver sidecars.
type TrafficStatus struct {
	// ObservingSince is set while the Service is in proxy mode with its pods running so that the
	// sidecars count its requests (an observation); unset otherwise.
	// +optional
	ObservingSince *metav1.Time `json:"observingSince,omitempty"`
	// ObservedRate is the request rate, in requests per second, of the leader's last look during
	// an observation (a decimal string such as "0.25").
	// +optional
	ObservedRate string `json:"observedRate,omitempty"`
	// LastActiveTime is when the Service was last seen active: the observed rate above the
	// threshold, a scale-up from zero, or the start of this leader's term.
	// +optional
	LastActiveTime *metav1.Time `json:"lastActiveTime,omitempty"`
	// NextObservationTime is when, in serve mode, the next observation starts (LastActiveTime
	// plus cooldownPeriod).
	// +optional
	NextObservationTime *metav1.Time `json:"nextObservationTime,omitempty"`
}

// SidecarPort is the sidecar port allocated to one Service port.
type SidecarPort struct {
	// Name of the Service port ("" for a Service with a single unnamed port).
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Port is the Service port number, for reading (allocation follows the name).
	// +optional
	Port int32 `json:"port,omitempty"`
	// SidecarPort is the port every resolver sidecar listens on for this Service port.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	SidecarPort int32 `json:"sidecarPort"`
}

// ElastiService scales a Service's workload to zero when idle and back on the first request.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=esvc;elastisvc,categories=elasti
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.spec.service`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.scaleTargetRef.name`
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.scaleTargetRef.kind`,priority=1
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.status.mode`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Why",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Rate",type=string,JSONPath=`.status.traffic.observedRate`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ElastiService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ElastiServiceSpec   `json:"spec"`
	Status ElastiServiceStatus `json:"status,omitempty"`
}

// ElastiServiceList is a list of ElastiServices.
//
// +kubebuilder:object:root=true
type ElastiServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ElastiService `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ElastiService{}, &ElastiServiceList{})
}

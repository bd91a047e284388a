// Package v1alpha1 holds the ElastiService API (elasti.dev/v1alpha1).
//
// An ElastiService names a Service and the workload behind it (any resource with a /scale
// subresource). The operator scales that workload to zero when its triggers say it is idle for
// cooldownPeriod, points the Service at the resolver sidecars while it is at zero, and scales it back
// to minTargetReplicas on the first request. Spec field names and meanings follow KubeElasti's
// ElastiService, so its users can move by changing apiVersion.
//
// Validation lives in the schema (OpenAPI and CEL markers below), so a bad cron expression, a bad
// duration or an unknown trigger type is refused at `kubectl apply` with a readable message.
//
// +kubebuilder:object:generate=true
// +groupName=elasti.dev
package v1alpha1

package v1alpha1

// KubeElasti compatibility: what KubeElasti's ElastiService (elasti.truefoundry.com/v1alpha1)
// accepts that is spelled differently here. docs/migration.md lists every difference.

// kubeElastiKinds maps the resource names KubeElasti accepts in scaleTargetRef.kind to the
// kinds they stand for.
var kubeElastiKinds = map[string]string{
	"deployments": "Deployment",
	"rollouts":    "Rollout",
}

// CanonicalKind is the target's Kind: KubeElasti's "deployments" and "rollouts" (which its
// schema accepts as kinds) are Deployment and Rollout; every other kind is returned as it is.
func (r ScaleTargetRef) CanonicalKind() string {
	if k, ok := kubeElastiKinds[r.Kind]; ok {
		return k
	}
	return r.Kind
}

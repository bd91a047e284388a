package controller

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

// TestTargetKeysOfKubeElastiKinds: KubeElasti's "deployments" is indexed and watched as the
// Deployment it names, so the target's events reach its ElastiService.
func TestTargetKeysOfKubeElastiKinds(t *testing.T) {
	plural := v1alpha1.ScaleTargetRef{APIVersion: "apps/v1", Kind: "deployments", Name: "orders"}
	kind := v1alpha1.ScaleTargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "orders"}
	assert.Equal(t, targetIndexKey(kind), targetIndexKey(plural))
	assert.True(t, watchedTargetKind(plural))
	assert.Equal(t, "argoproj.io/Rollout/r", targetIndexKey(v1alpha1.ScaleTargetRef{APIVersion: "argoproj.io/v1alpha1", Kind: "rollouts", Name: "r"}))
}

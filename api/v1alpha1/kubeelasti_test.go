package v1alpha1

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCanonicalKind(t *testing.T) {
	for kind, want := range map[string]string{
		"deployments":  "Deployment",
		"rollouts":     "Rollout",
		"Deployment":   "Deployment",
		"StatefulSet":  "StatefulSet",
		"Rollout":      "Rollout",
		"statefulsets": "statefulsets",
	} {
		assert.Equal(t, want, ScaleTargetRef{Kind: kind}.CanonicalKind(), kind)
	}
}

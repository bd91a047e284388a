package operator_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/elasti-dev/elasti/internal/testenv"
)

// deploymentArg returns the value of --name=value in the first container of a Deployment manifest.
func deploymentArg(t *testing.T, file, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), file))
	require.NoError(t, err)
	d := &appsv1.Deployment{}
	require.NoError(t, yaml.Unmarshal(raw, d), file)
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	t.Fatalf("%s has no --%s", file, name)
	return ""
}

// TestSidecarImageMatchesWebhook: the operator trusts only sidecars running the image the webhook
// injects, so the two Deployments must be given the same one.
func TestSidecarImageMatchesWebhook(t *testing.T) {
	op := deploymentArg(t, "manifests/base/operator/deployment.yaml", "sidecar-image")
	wh := deploymentArg(t, "manifests/base/webhook/deployment.yaml", "sidecar-image")
	assert.Equal(t, wh, op, "the operator's --sidecar-image must be the webhook's")
}

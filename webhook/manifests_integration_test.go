//go:build integration

package webhook

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/internal/testenv"
)

// TestIntegrationManifests creates every object of manifests/base/webhook (and the self-managed
// component's RBAC) on a real API server, so schema and validation errors fail here, not at
// install time.
func TestIntegrationManifests(t *testing.T) {
	env := testenv.Start(t, nil)
	ctx := context.Background()
	require.NoError(t, env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "elasti-system"}}))
	dir := filepath.Join(testenv.RepoRoot(), "manifests", "base", "webhook")
	files := []string{"serviceaccount.yaml", "rbac.yaml", "deployment.yaml", "pdb.yaml", "service.yaml",
		"mutatingwebhookconfiguration.yaml", filepath.Join("self-managed", "rbac.yaml")}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			u := &unstructured.Unstructured{}
			err := dec.Decode(&u.Object)
			if err == io.EOF {
				break
			}
			require.NoError(t, err, f)
			if len(u.Object) == 0 {
				continue
			}
			require.NoError(t, env.Client.Create(ctx, u, client.FieldValidation("Strict")), "%s: %s %s", f, u.GetKind(), u.GetName())
			n++
		}
	}
	require.Equal(t, 13, n, "objects created")
}

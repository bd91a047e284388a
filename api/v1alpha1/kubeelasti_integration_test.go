//go:build integration

package v1alpha1_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/testenv"
)

const kubeElastiAPIVersion = "elasti.truefoundry.com/v1alpha1"

// kubeElastiRefused are the examples of KubeElasti's docs that Elasti does not apply, by
// "file/name", with the API server's message. docs/migration.md explains each.
var kubeElastiRefused = map[string]string{
	// Only tenant headers are allowed; credentials go in authSecretRef.
	"setup-template.yaml/httpbin": "headers: only the tenant headers X-Scope-OrgID and THANOS-TENANT are allowed",
	// KubeElasti's own schema requires scaleTargetRef.apiVersion as well.
	"compare-knative.yaml/my-app-elasti": "spec.scaleTargetRef.apiVersion: Required value",
}

// kubeElastiExamples reads docs/examples/kubeelasti/*.yaml with the apiVersion line changed to
// Elasti's, and nothing else.
func kubeElastiExamples(t *testing.T) map[string]*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "docs", "examples", "kubeelasti", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]*unstructured.Unstructured{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		lines := strings.Split(string(raw), "\n")
		changed := 0
		for i, l := range lines {
			if l == "apiVersion: "+kubeElastiAPIVersion {
				lines[i] = "apiVersion: " + v1alpha1.GroupVersion.String()
				changed++
			}
		}
		d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(strings.Join(lines, "\n")), 4096)
		docs := 0
		for {
			u := &unstructured.Unstructured{}
			err := d.Decode(&u.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, f)
			if len(u.Object) == 0 {
				continue
			}
			docs++
			require.Equal(t, "ElastiService", u.GetKind(), f)
			if u.GetNamespace() == "" {
				u.SetNamespace("default") // kubectl apply's namespace
			}
			out[filepath.Base(f)+"/"+u.GetName()] = u
		}
		require.Equal(t, docs, changed, "%s: every object must have had KubeElasti's apiVersion line", f)
	}
	return out
}

// TestIntegrationKubeElastiExamples: every ElastiService example of KubeElasti's docs applies
// to Elasti's CRD with only its apiVersion changed (strict field validation, as kubectl apply),
// keeps every field as written, and means the same; the exceptions are exactly those listed in
// kubeElastiRefused and docs/migration.md.
func TestIntegrationKubeElastiExamples(t *testing.T) {
	env := testenv.Start(t, nil)
	ctx := context.Background()
	c := env.Client
	migration, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "migration.md"))
	require.NoError(t, err)

	examples := kubeElastiExamples(t)
	for k := range kubeElastiRefused {
		require.Contains(t, examples, k, "kubeElastiRefused names an example that does not exist")
	}
	for name, u := range examples {
		t.Run(name, func(t *testing.T) {
			ensureNamespace(t, ctx, c, u.GetNamespace())
			sent := u.DeepCopy()
			err := c.Create(ctx, u, client.FieldValidation("Strict"))
			if want, refused := kubeElastiRefused[name]; refused {
				require.Error(t, err, "expected to be refused (docs/migration.md)")
				assert.Contains(t, err.Error(), want)
				assert.Contains(t, string(migration), strings.Split(name, "/")[0], "docs/migration.md must explain why %s is refused", name)
				return
			}
			require.NoError(t, err)

			stored := &unstructured.Unstructured{}
			stored.SetGroupVersionKind(u.GroupVersionKind())
			require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(u), stored))
			assertKept(t, "spec", sent.Object["spec"], stored.Object["spec"])

			var es v1alpha1.ElastiService
			require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(u), &es))
			assertSameMeaning(t, sent, &es)
		})
	}
}

// assertKept checks that every value that was sent is stored unchanged (the server may add
// defaults, nothing else).
func assertKept(t *testing.T, path string, sent, stored any) {
	t.Helper()
	switch s := sent.(type) {
	case map[string]any:
		m, ok := stored.(map[string]any)
		if !assert.True(t, ok, "%s: sent an object, stored %T", path, stored) {
			return
		}
		for k, v := range s {
			assertKept(t, path+"."+k, v, m[k])
		}
	case []any:
		l, ok := stored.([]any)
		if !assert.True(t, ok, "%s: sent a list, stored %T", path, stored) || !assert.Len(t, l, len(s), path) {
			return
		}
		for i := range s {
			assertKept(t, fmt.Sprintf("%s[%d]", path, i), s[i], l[i])
		}
	default:
		assert.Equal(t, fmt.Sprint(sent), fmt.Sprint(stored), "%s was changed by the API server", path)
	}
}

// assertSameMeaning checks what KubeElasti's documentation says each field means.
func assertSameMeaning(t *testing.T, sent *unstructured.Unstructured, es *v1alpha1.ElastiService) {
	t.Helper()
	spec := sent.Object["spec"].(map[string]any)
	// scaleTargetRef.kind: KubeElasti's "deployments" and "rollouts" are Deployment and Rollout.
	assert.Contains(t, []string{"Deployment", "StatefulSet", "Rollout"}, es.Spec.ScaleTargetRef.CanonicalKind())
	// minTargetReplicas: "Minimum: 1", the replicas a wake-up brings up.
	if _, set := spec["minTargetReplicas"]; !set {
		assert.Equal(t, int32(1), es.Spec.MinReplicas())
	}
	// cooldownPeriod: "Default: 900 seconds".
	if _, set := spec["cooldownPeriod"]; !set {
		assert.Equal(t, v1alpha1.DefaultCooldownPeriod, es.Spec.Cooldown())
	}
	// threshold: a number, written as one or as a string.
	for i, tr := range es.Spec.Triggers {
		_, err := tr.Metadata.ThresholdValue()
		assert.NoError(t, err, "triggers[%d].metadata.threshold", i)
	}
	// enabledPeriod: schedule defaults to "0 0 * * *", duration to "24h", times in UTC.
	if ep, set := spec["enabledPeriod"].(map[string]any); set {
		require.NotNil(t, es.Spec.EnabledPeriod)
		if _, ok := ep["schedule"]; !ok {
			assert.Equal(t, "0 0 * * *", es.Spec.EnabledPeriod.Schedule)
		}
		if _, ok := ep["duration"]; !ok {
			assert.Equal(t, "24h", es.Spec.EnabledPeriod.Duration)
		}
		assert.Empty(t, es.Spec.EnabledPeriod.TimeZone, "no time zone means UTC, as in KubeElasti")
	}
}

func ensureNamespace(t *testing.T, ctx context.Context, c client.Client, name string) {
	t.Helper()
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

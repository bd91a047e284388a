package operator_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
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

// generatedRules reads the rules of every Role and ClusterRole in the generated RBAC
// (manifests/base/rbac/operator/role.yaml, from the markers in operator/internal/controller).
func generatedRules(t *testing.T) map[string][]rbacv1.PolicyRule {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "manifests", "base", "rbac", "operator", "role.yaml"))
	require.NoError(t, err)
	out := map[string][]rbacv1.PolicyRule{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		var obj struct {
			Kind     string              `json:"kind"`
			Metadata metav1.ObjectMeta   `json:"metadata"`
			Rules    []rbacv1.PolicyRule `json:"rules"`
		}
		if err := dec.Decode(&obj); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		if obj.Kind != "" {
			out[obj.Kind+"/"+obj.Metadata.Name] = obj.Rules
		}
	}
	require.NotEmpty(t, out)
	return out
}

// grants reports whether rule allows verb on resource (possibly "pods/status") in group.
func grants(rule rbacv1.PolicyRule, group, resource, verb string) bool {
	matches := func(list []string, v string) bool { return slices.Contains(list, v) || slices.Contains(list, "*") }
	if !matches(rule.APIGroups, group) || !matches(rule.Verbs, verb) || len(rule.ResourceNames) > 0 && verb == "create" {
		return false
	}
	base, sub, hasSub := strings.Cut(resource, "/")
	for _, r := range rule.Resources {
		switch {
		case r == "*", r == resource:
			return true
		case hasSub && r == "*/"+sub, hasSub && r == base+"/*":
			return true
		}
	}
	return false
}

// TestGeneratedRoleCannotWritePods fails if the operator's generated RBAC regains any write
// access to pods (or their subresources), or any access to Secrets (issue 12: an operator that can
// rewrite any pod is a path to cluster takeover).
func TestGeneratedRoleCannotWritePods(t *testing.T) {
	writes := []string{"create", "update", "patch", "delete", "deletecollection", "bind", "escalate", "impersonate"}
	podResources := []string{"pods", "pods/status", "pods/ephemeralcontainers", "pods/exec", "pods/attach", "pods/portforward",
		"pods/eviction", "pods/binding", "pods/proxy", "pods/log"}
	for role, rules := range generatedRules(t) {
		for _, rule := range rules {
			for _, res := range podResources {
				for _, verb := range writes {
					assert.False(t, grants(rule, "", res, verb), "%s grants %s on %s: %+v", role, verb, res, rule)
				}
				if res != "pods" {
					assert.False(t, grants(rule, "", res, "get"), "%s grants get on %s: %+v", role, res, rule)
				}
			}
			for _, verb := range append(writes, "get", "list", "watch") {
				assert.False(t, grants(rule, "", "secrets", verb), "%s grants %s on secrets: %+v", role, verb, rule)
			}
			for _, r := range rule.Resources {
				assert.True(t, r != "*" && (!strings.HasPrefix(r, "*") || r == "*/scale"), "%s: wildcard resource %q", role, r)
			}
		}
	}
}

func TestGrants(t *testing.T) {
	assert.True(t, grants(rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"patch"}}, "", "pods", "patch"))
	assert.True(t, grants(rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}, "", "pods", "delete"))
	assert.True(t, grants(rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"*/status"}, Verbs: []string{"update"}}, "", "pods/status", "update"))
	assert.False(t, grants(rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"*/scale"}, Verbs: []string{"update"}}, "", "pods", "update"))
	assert.False(t, grants(rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}, "", "pods", "patch"))
}

//go:build chart

package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// root is the repository's top directory (go test runs in test/chart).
const root = "../.."

// helmLabels are the labels the chart adds to every object's metadata that kustomize does not.
var helmLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "app.kubernetes.io/version"}

type object = map[string]any

// tool returns the path of a binary named by an environment variable (make test-chart sets them).
func tool(t *testing.T, env string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		t.Fatalf("%s is not set: run `make test-chart`, which builds helm and kubectl and sets HELM and KUBECTL", env)
	}
	return p
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = root
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// helmTemplate renders the chart as `helm install --namespace elasti-system` would, CRDs included.
func helmTemplate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	// helm template assumes Kubernetes v1.20 unless told: the chart needs >= 1.30.
	v, err := os.ReadFile(filepath.Join(root, "hack/k8s-version"))
	require.NoError(t, err)
	base := []string{"template", "elasti", "charts/elasti", "--namespace", "elasti-system", "--include-crds", "--kube-version", strings.TrimSpace(string(v))}
	return run(t, tool(t, "HELM"), append(base, args...)...)
}

func kustomize(t *testing.T, overlay string) string {
	t.Helper()
	out, err := run(t, tool(t, "KUBECTL"), "kustomize", "manifests/overlays/"+overlay)
	require.NoError(t, err)
	return out
}

// decode splits a multi-document YAML stream into objects keyed by kind/namespace/name.
func decode(t *testing.T, stream string) map[string]object {
	t.Helper()
	objs := map[string]object{}
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	for {
		var o object
		err := d.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if len(o) == 0 {
			continue
		}
		k := key(o)
		require.NotContains(t, objs, k, "%s rendered twice", k)
		objs[k] = o
	}
	return objs
}

func key(o object) string {
	md, _ := o["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	return fmt.Sprintf("%s %s/%s", o["kind"], ns, md["name"])
}

// withoutHelmLabels returns o's YAML without the labels Helm adds to metadata (after checking
// that the chart did add them, so that stripping them hides nothing).
func withoutHelmLabels(t *testing.T, k string, o object, fromHelm bool) string {
	t.Helper()
	md := o["metadata"].(map[string]any)
	if labels, ok := md["labels"].(map[string]any); ok {
		for _, l := range helmLabels {
			if fromHelm {
				assert.Contains(t, labels, l, "%s: the chart's labels lack %s", k, l)
			}
			delete(labels, l)
		}
		if len(labels) == 0 {
			delete(md, "labels")
		}
	}
	b, err := yaml.Marshal(o)
	require.NoError(t, err)
	return string(b)
}

func sortedKeys(m map[string]object) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// generated lists objects that the chart takes as they are from `make manifests` (and so carry
// no Helm labels): the operator's generated RBAC.
var generated = map[string]bool{
	"ClusterRole /elasti-operator":                        true,
	"Role elasti-system/elasti-operator":                  true,
	"CustomResourceDefinition /elastiservices.elasti.dev": true,
}

// TestChartMatchesKustomize: with default values the chart renders the self-managed overlay,
// and with certificates.mode=cert-manager the cert-manager overlay, object by object.
func TestChartMatchesKustomize(t *testing.T) {
	for _, tc := range []struct {
		overlay string
		args    []string
	}{
		{"self-managed", nil},
		{"cert-manager", []string{"--set", "certificates.mode=cert-manager"}},
	} {
		t.Run(tc.overlay, func(t *testing.T) {
			chartOut, err := helmTemplate(t, tc.args...)
			require.NoError(t, err)
			chart := decode(t, chartOut)
			kust := decode(t, kustomize(t, tc.overlay))

			// Helm cannot create its own release namespace (it stores the release there first),
			// so the chart has no Namespace: docs/install.md creates and labels elasti-system.
			ns := "Namespace /elasti-system"
			_, ok := kust[ns]
			require.True(t, ok, "the %s overlay has no %s", tc.overlay, ns)
			delete(kust, ns)

			assert.Equal(t, sortedKeys(kust), sortedKeys(chart), "the chart and the %s overlay render different objects", tc.overlay)
			for _, k := range sortedKeys(kust) {
				c, ok := chart[k]
				if !ok {
					continue
				}
				want := withoutHelmLabels(t, k, kust[k], false)
				got := withoutHelmLabels(t, k, c, !generated[k])
				assert.Equal(t, want, got, "%s differs between the chart (got) and the %s overlay (want)", k, tc.overlay)
			}
		})
	}
}

// TestChartCopiesGeneratedFiles: the CRD and the operator's RBAC in the chart are the files
// `make manifests` generates, byte for byte.
func TestChartCopiesGeneratedFiles(t *testing.T) {
	for src, dst := range map[string]string{
		"manifests/base/crd/elasti.dev_elastiservices.yaml": "charts/elasti/crds/elasti.dev_elastiservices.yaml",
		"manifests/base/rbac/operator/role.yaml":            "charts/elasti/templates/operator/role.yaml",
	} {
		want, err := os.ReadFile(filepath.Join(root, src))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(root, dst))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "%s is not a copy of %s: run `make manifests`", dst, src)
	}
}

// containerArgs returns the args of the first container of the Deployment named name.
func containerArgs(t *testing.T, objs map[string]object, name string) []string {
	t.Helper()
	d, ok := objs["Deployment elasti-system/"+name]
	require.True(t, ok, "no Deployment %s", name)
	c := container(t, d)
	var args []string
	for _, a := range c["args"].([]any) {
		args = append(args, a.(string))
	}
	return args
}

func container(t *testing.T, d object) map[string]any {
	t.Helper()
	spec := d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	return spec["containers"].([]any)[0].(map[string]any)
}

// TestChartValues: values reach the objects they configure.
func TestChartValues(t *testing.T) {
	out, err := helmTemplate(t,
		"--set", "sidecarPortRange=21000-21999,operator.replicas=3,webhook.replicas=1",
		"--set", "images.operator.tag=v9.9.9,images.sidecar.repository=registry.example.com/elasti/sidecar,images.sidecar.tag=v9.9.9",
		"--set", "operator.prometheus.address=http://prometheus.monitoring.svc:9090,operator.prometheus.allowedAddresses={http://a:9090,http://b:9090}",
		"--set", "operator.pollInterval=5s,webhook.sidecar.logLevel=debug,webhook.sidecar.memoryLimit=128Mi",
		"--set", "operator.podDisruptionBudget.enabled=false,resolverPodsPolicy.enabled=false,clusterDomain=example.internal",
		"--set", "operator.resources.limits.memory=512Mi,webhook.nativeSidecar=false,operator.extraArgs={--prometheus-timeout=3s}",
		"--set", "operator.nodeSelector.role=infra,webhook.tolerations[0].key=dedicated,webhook.tolerations[0].operator=Exists,imagePullSecrets[0].name=regcred")
	require.NoError(t, err)
	objs := decode(t, out)

	op := containerArgs(t, objs, "elasti-operator")
	for _, want := range []string{"--sidecar-port-range=21000-21999", "--poll-interval=5s", "--cluster-domain=example.internal",
		"--sidecar-image=registry.example.com/elasti/sidecar:v9.9.9", "--prometheus-address=http://prometheus.monitoring.svc:9090",
		"--prometheus-allowed-addresses=http://a:9090,http://b:9090", "--prometheus-timeout=3s"} {
		assert.Contains(t, op, want)
	}
	wh := containerArgs(t, objs, "elasti-webhook")
	for _, want := range []string{"--sidecar-port-range=21000-21999", "--sidecar-image=registry.example.com/elasti/sidecar:v9.9.9",
		"--sidecar-log-level=debug", "--sidecar-memory-limit=128Mi", "--native-sidecar=false", "--cluster-domain=example.internal", "--cert-mode=self-managed"} {
		assert.Contains(t, wh, want)
	}
	opDep := objs["Deployment elasti-system/elasti-operator"]
	assert.EqualValues(t, 3, opDep["spec"].(map[string]any)["replicas"])
	assert.EqualValues(t, 1, objs["Deployment elasti-system/elasti-webhook"]["spec"].(map[string]any)["replicas"])
	c := container(t, opDep)
	assert.Equal(t, "elasti/operator:v9.9.9", c["image"])
	assert.Equal(t, "512Mi", c["resources"].(map[string]any)["limits"].(map[string]any)["memory"])
	assert.Equal(t, "elasti/webhook:v0.1.0-dev", container(t, objs["Deployment elasti-system/elasti-webhook"])["image"], "an empty tag is the chart's appVersion")
	opPod := opDep["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	assert.Equal(t, map[string]any{"role": "infra"}, opPod["nodeSelector"])
	assert.Equal(t, []any{map[string]any{"name": "regcred"}}, opPod["imagePullSecrets"])
	whPod := objs["Deployment elasti-system/elasti-webhook"]["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	assert.Equal(t, []any{map[string]any{"key": "dedicated", "operator": "Exists"}}, whPod["tolerations"])
	assert.NotContains(t, objs, "PodDisruptionBudget elasti-system/elasti-operator")
	assert.Contains(t, objs, "PodDisruptionBudget elasti-system/elasti-webhook")
	assert.NotContains(t, objs, "ValidatingAdmissionPolicy /elasti-resolver-pods")

	cm, err := helmTemplate(t, "--set", "certificates.mode=cert-manager,clusterDomain=example.internal,certificates.certManager.serving.duration=720h")
	require.NoError(t, err)
	serving := decode(t, cm)["Certificate elasti-system/elasti-serving"]["spec"].(map[string]any)
	assert.Equal(t, "720h", serving["duration"])
	assert.Contains(t, serving["dnsNames"], "elasti-operator.elasti-system.svc.example.internal")
}

// TestChartRejectsBadValues: values.schema.json and the chart's own checks refuse bad input and
// say what was wrong.
func TestChartRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown certificate mode", []string{"--set", "certificates.mode=vault"}, "certificates.mode"},
		{"port range not first-last", []string{"--set", "sidecarPortRange=20000"}, "sidecarPortRange"},
		{"port range reversed", []string{"--set", "sidecarPortRange=29999-20000"}, "1024 < first <= last <= 65535"},
		{"port range too high", []string{"--set", "sidecarPortRange=60000-70000"}, "1024 < first <= last <= 65535"},
		{"no operator replica", []string{"--set", "operator.replicas=0"}, "operator.replicas"},
		{"replicas not a number", []string{"--set-string", "webhook.replicas=two"}, "webhook.replicas"},
		{"bad pull policy", []string{"--set", "images.operator.pullPolicy=Sometimes"}, "images.operator.pullPolicy"},
		{"bad duration", []string{"--set", "operator.pollInterval=30"}, "operator.pollInterval"},
		{"bad prometheus address", []string{"--set", "operator.prometheus.address=prometheus:9090"}, "operator.prometheus.address"},
		{"bad native sidecar", []string{"--set-string", "webhook.nativeSidecar=yes"}, "webhook.nativeSidecar"},
		{"bad sidecar quantity", []string{"--set", "webhook.sidecar.memoryLimit=lots"}, "webhook.sidecar.memoryLimit"},
		{"misspelled value", []string{"--set", "operator.replica=2"}, "replica"},
		{"extra arg not a flag", []string{"--set", "operator.extraArgs={verbose}"}, "operator.extraArgs"},
		{"other namespace", []string{"--namespace", "elasti"}, "must be installed in the namespace elasti-system"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := helmTemplate(t, tc.args...)
			require.Error(t, err, "helm template accepted %v", tc.args)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestChartLints: `helm lint --strict` passes in both certificate modes.
func TestChartLints(t *testing.T) {
	v, err := os.ReadFile(filepath.Join(root, "hack/k8s-version"))
	require.NoError(t, err)
	for _, mode := range []string{"self-managed", "cert-manager"} {
		out, err := run(t, tool(t, "HELM"), "lint", "--strict", "charts/elasti", "--namespace", "elasti-system",
			"--kube-version", strings.TrimSpace(string(v)), "--set", "certificates.mode="+mode)
		require.NoError(t, err, out)
	}
}

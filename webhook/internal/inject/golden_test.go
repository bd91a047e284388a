package inject

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/*.injected.yaml from the current output")

// testConfig is the Config every golden case starts from.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Image = "ghcr.io/elasti-dev/resolver:v0.1.0"
	cfg.CABundle = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
	return cfg
}

// goldenCases maps a testdata file to the reason Mutate must give; the file name's suffix
// "-classic" selects a regular container instead of a native sidecar.
var goldenCases = map[string]Reason{
	"gateway-annotation":         ReasonInjected,
	"gateway-annotation-classic": ReasonInjected,
	"gateway-selector":           ReasonInjected,
	"not-gateway":                ReasonNotGateway,
	"bad-selector":               ReasonBadGatewaySelector,
	"pod-opted-out":              ReasonPodOptedOut,
	"host-network":               ReasonHostNetwork,
	"system-namespace":           ReasonSystemNamespace,
	"elasti-namespace":           ReasonSystemNamespace,
	"namespace-not-enabled":      ReasonNamespaceNotEnabled,
	"already-injected":           ReasonAlreadyInjected,
	"port-clash":                 ReasonPortClash,
	"port-clash-name":            ReasonPortClash,
	"port-clash-override":        ReasonPortClash,
	"port-clash-resolved":        ReasonInjected,
	"port-in-sidecar-range":      ReasonPortInSidecarRange,
	"overrides":                  ReasonInjected,
	"bad-overrides":              ReasonInjectedWithDefault,
	"same-ports":                 ReasonInjectedWithDefault,
	"existing-init-containers":   ReasonInjected,
	"bad-status":                 ReasonInjected,
	"resolver-label-preset":      ReasonInjected,
	"reinvocation":               ReasonInjected,
	"reinvocation-classic":       ReasonInjected,
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	require.NoError(t, err)
	seen := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		if strings.HasSuffix(name, ".injected") {
			continue
		}
		seen++
		want, ok := goldenCases[name]
		require.True(t, ok, "testdata/%s.yaml has no entry in goldenCases", name)
		t.Run(name, func(t *testing.T) {
			ns, pod, raw := loadCase(t, f)
			cfg := testConfig()
			cfg.NativeSidecar = !strings.HasSuffix(name, "-classic")
			res := Mutate(pod, ns, &cfg)
			assert.Equal(t, want, res.Reason, res.Message)
			assert.Equal(t, res.Injected, want == ReasonInjected || want == ReasonInjectedWithDefault)
			compareGolden(t, strings.TrimSuffix(f, ".yaml")+".injected.yaml", render(t, res))
			checkPatch(t, raw, res)
			checkIdempotent(t, res, ns, &cfg)
		})
	}
	assert.Len(t, goldenCases, seen, "every goldenCases entry needs a testdata file")
}

// loadCase reads a Namespace document and a Pod document.
func loadCase(t *testing.T, path string) (*corev1.Namespace, *corev1.Pod, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	docs := strings.SplitN(string(b), "\n---\n", 2)
	require.Len(t, docs, 2, "%s: want a Namespace, then a Pod", path)
	ns := &corev1.Namespace{}
	require.NoError(t, yaml.UnmarshalStrict([]byte(docs[0]), ns))
	raw, err := yaml.YAMLToJSON([]byte(docs[1]))
	require.NoError(t, err)
	pod := &corev1.Pod{}
	require.NoError(t, yaml.UnmarshalStrict([]byte(docs[1]), pod))
	return ns, pod, raw
}

// render is the golden output: the decision as comments, then the resulting pod.
func render(t *testing.T, res Result) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# reason: %s\n", res.Reason)
	if res.Message != "" {
		fmt.Fprintf(&buf, "# message: %s\n", res.Message)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(&buf, "# warning: %s\n", w)
	}
	b, err := yaml.Marshal(res.Pod)
	require.NoError(t, err)
	buf.Write(b)
	return buf.Bytes()
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run: go test ./webhook/internal/inject -update")
	assert.Equal(t, string(want), string(got), "%s differs; run with -update if the change is intended", path)
}

// checkPatch applies the JSON patch to the original JSON and compares with the mutated pod.
func checkPatch(t *testing.T, raw []byte, res Result) {
	t.Helper()
	// The API server sends the pod as it would encode it; normalise the YAML-derived JSON likewise.
	var orig corev1.Pod
	require.NoError(t, json.Unmarshal(raw, &orig))
	origJSON, err := json.Marshal(&orig)
	require.NoError(t, err)
	patch, err := Patch(origJSON, &orig, res.Pod)
	require.NoError(t, err)
	if !res.Injected {
		assert.Nil(t, patch, "a skipped pod must not be patched")
		return
	}
	p, err := jsonpatch.DecodePatch(patch)
	require.NoError(t, err)
	patched, err := p.Apply(origJSON)
	require.NoError(t, err)
	want, err := json.Marshal(res.Pod)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(patched))
}

// checkIdempotent mutates the result again (what a reinvocation does) and expects no change.
func checkIdempotent(t *testing.T, res Result, ns *corev1.Namespace, cfg *Config) {
	t.Helper()
	again := Mutate(res.Pod, ns, cfg)
	assert.Equal(t, res.Reason, again.Reason)
	assert.Equal(t, res.Pod, again.Pod, "a second Mutate must return the same pod")
	count := 0
	for _, c := range append(again.Pod.Spec.Containers, again.Pod.Spec.InitContainers...) {
		if c.Name == "elasti-resolver" {
			count++
		}
	}
	if res.Injected {
		assert.Equal(t, 1, count, "exactly one sidecar")
	}
}

package inject

import (
	"encoding/json"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/elasti-dev/elasti/pkg/names"
)

// FuzzParseOverrides feeds arbitrary annotation values to the override parser: it must never
// panic, and whatever it returns must be a valid, injectable configuration.
func FuzzParseOverrides(f *testing.F) {
	for _, s := range []string{"", "8012", "0", "-1", "65536", "50m", "1e400", "256Mi", "debug", "a:b@sha256:", "x//y", "\x00"} {
		f.Add(s, s, s)
	}
	cfg := testConfig()
	f.Fuzz(func(t *testing.T, a, b, c string) {
		ann := map[string]string{
			names.AnnotationSidecarImage: a, names.AnnotationSidecarProxyPort: b, names.AnnotationSidecarAdminPort: c,
			names.AnnotationSidecarCPU: a, names.AnnotationSidecarMemory: b, names.AnnotationSidecarLogLevel: c,
		}
		p, _ := ParseOverrides(ann, &cfg)
		assert.NotEqual(t, p.ProxyPort, p.AdminPort)
		assert.GreaterOrEqual(t, p.ProxyPort, int32(minPort))
		assert.Positive(t, p.CPURequest.Sign())
		assert.LessOrEqual(t, p.MemoryRequest.Cmp(p.MemoryLimit), 0)
		assert.True(t, LogLevels[p.LogLevel])
		assert.True(t, ParseImage(p.Image), p.Image)
	})
}

// FuzzMutate runs the whole decision on arbitrary pod and namespace annotations (status, selector,
// overrides): no panic, and a second Mutate never changes an injected pod.
func FuzzMutate(f *testing.F) {
	f.Add(`{"version":1,"containers":["envoy"],"volumes":["x"]}`, "app=gateway", "true", "9000")
	f.Add("{", "app in (", "false", "x")
	f.Add(`{"version":1,"labels":["app"]}`, "!app", "true", "8014")
	cfg := testConfig()
	f.Fuzz(func(t *testing.T, status, selector, gateway, port string) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge", Annotations: map[string]string{
			names.AnnotationInject: names.InjectEnabled, names.AnnotationGatewaySelector: selector,
		}}}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "gateway"}, Annotations: map[string]string{
				names.AnnotationSidecarStatus: status, names.AnnotationGateway: gateway, names.AnnotationSidecarProxyPort: port,
			}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "envoy", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}},
		}
		res := Mutate(pod, ns, &cfg)
		require.NotNil(t, res.Pod)
		if res.Injected {
			assertPatchApplies(t, pod, res.Pod)
			again := Mutate(res.Pod, ns, &cfg)
			assert.Equal(t, res.Pod, again.Pod)
		}
	})
}

// assertPatchApplies checks that Patch, applied to before's JSON, gives after's JSON.
func assertPatchApplies(t *testing.T, before, after *corev1.Pod) {
	orig, err := json.Marshal(before)
	require.NoError(t, err)
	patch, err := Patch(orig, before, after)
	require.NoError(t, err)
	p, err := jsonpatch.DecodePatch(patch)
	require.NoError(t, err)
	got, err := p.Apply(orig)
	require.NoError(t, err)
	want, err := json.Marshal(after)
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got))
}

func FuzzParseStatus(f *testing.F) {
	f.Add(`{"version":1,"initContainers":["elasti-resolver"]}`)
	f.Add(`{"version":2}`)
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStatus(s)
		if err == nil {
			assert.Equal(t, statusVersion, st.Version)
		}
	})
}

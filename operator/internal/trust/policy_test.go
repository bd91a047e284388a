package trust

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/elasti-dev/elasti/pkg/names"
)

const image = "registry.example:5000/elasti/sidecar:v1.2.0"

func optedIn(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{names.AnnotationInject: names.InjectEnabled}}}
}

// injected is what the webhook makes of a gateway pod in namespace ns.
func injected(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{names.LabelResolver: "true"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: names.SidecarContainerName, Image: image, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}},
			Containers:     []corev1.Container{{Name: "gateway", Image: "nginx"}},
		},
	}
}

func TestCheck(t *testing.T) {
	p, err := NewPolicy(image, "elasti-system")
	require.NoError(t, err)
	with := func(edit func(*corev1.Pod)) *corev1.Pod { pod := injected("edge", "gw"); edit(pod); return pod }
	tests := []struct {
		name string
		pod  *corev1.Pod
		ns   *corev1.Namespace
		want Reason // "" = trusted
	}{
		{"injected native sidecar", injected("edge", "gw"), optedIn("edge"), ""},
		{"regular container", with(func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, p.Spec.InitContainers[0])
			p.Spec.InitContainers = nil
		}), optedIn("edge"), ""},
		{"another tag of the same repository (an upgrade)", with(func(p *corev1.Pod) {
			p.Spec.InitContainers[0].Image = "registry.example:5000/elasti/sidecar:v1.1.0"
		}), optedIn("edge"), ""},
		{"digest pinned by a policy engine", with(func(p *corev1.Pod) {
			p.Spec.InitContainers[0].Image = image + "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		}), optedIn("edge"), ""},
		{"the pod's own image override", with(func(p *corev1.Pod) {
			p.Annotations = map[string]string{names.AnnotationSidecarImage: "mirror.example/resolver:v9"}
			p.Spec.InitContainers[0].Image = "mirror.example/resolver:v9"
		}), optedIn("edge"), ""},
		{"no resolver label", with(func(p *corev1.Pod) { p.Labels = nil }), optedIn("edge"), ReasonNotResolverPod},
		{"label not exactly true", with(func(p *corev1.Pod) { p.Labels[names.LabelResolver] = "yes" }), optedIn("edge"), ReasonNotResolverPod},
		{"no sidecar container", with(func(p *corev1.Pod) { p.Spec.InitContainers = nil }), optedIn("edge"), ReasonNoSidecarContainer},
		{"kube-system, even annotated", injected("kube-system", "gw"), optedIn("kube-system"), ReasonSystemNamespace},
		{"Elasti's namespace", injected("elasti-system", "gw"), optedIn("elasti-system"), ReasonSystemNamespace},
		{"namespace not annotated", injected("edge", "gw"), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge"}}, ReasonNamespaceNotOptedIn},
		{"namespace only labelled (the label is a mirror, not the opt-in)", injected("edge", "gw"),
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge", Labels: map[string]string{names.LabelInject: names.InjectEnabled}}}, ReasonNamespaceNotOptedIn},
		{"namespace disabled", injected("edge", "gw"),
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge", Annotations: map[string]string{names.AnnotationInject: "disabled"}}}, ReasonNamespaceNotOptedIn},
		{"namespace gone", injected("edge", "gw"), nil, ReasonNamespaceNotOptedIn},
		{"another namespace's object", injected("edge", "gw"), optedIn("other"), ReasonNamespaceNotOptedIn},
		{"foreign image", with(func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "attacker.example/elasti/sidecar:v1.2.0" }), optedIn("edge"), ReasonUnexpectedImage},
		{"override annotation that the container does not run", with(func(p *corev1.Pod) {
			p.Annotations = map[string]string{names.AnnotationSidecarImage: "mirror.example/resolver:v9"}
			p.Spec.InitContainers[0].Image = "evil.example/resolver:v9"
		}), optedIn("edge"), ReasonUnexpectedImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(tt.pod, tt.ns)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrUntrusted)
			var te *Error
			require.True(t, errors.As(err, &te))
			assert.Equal(t, tt.want, te.Reason, err.Error())
		})
	}
}

func TestNilPolicyTrustsNothing(t *testing.T) {
	var p *Policy
	require.ErrorIs(t, p.Check(injected("edge", "gw"), optedIn("edge")), ErrUntrusted)
	var c *Checker
	require.ErrorIs(t, c.CheckPod(context.Background(), injected("edge", "gw")), ErrUntrusted)
	got, err := c.Filter(context.Background(), []corev1.Pod{*injected("edge", "gw")})
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestNewPolicyNeedsAnImage(t *testing.T) {
	for _, bad := range []string{"", "a b", "/x", "x/"} {
		_, err := NewPolicy(bad, "")
		assert.Error(t, err, bad)
	}
}

func TestRepository(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                                   "docker.io/library/nginx",
		"nginx:1.27":                              "docker.io/library/nginx",
		"elasti/sidecar:v0.1.0-dev":               "docker.io/elasti/sidecar",
		"docker.io/elasti/sidecar":                "docker.io/elasti/sidecar",
		"index.docker.io/library/nginx":           "docker.io/library/nginx",
		"docker.io/nginx@sha256:abc":              "docker.io/library/nginx",
		"registry.example:5000/a/b:v1@sha256:abc": "registry.example:5000/a/b",
		"registry.example:5000/a/b":               "registry.example:5000/a/b",
		"localhost/elasti/sidecar:dev":            "localhost/elasti/sidecar",
		"GHCR.io/elasti-dev/resolver:v1":          "ghcr.io/elasti-dev/resolver",
	} {
		got, ok := Repository(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
}

func TestFilterReadsEachNamespaceOnce(t *testing.T) {
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	plain := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain"}}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(optedIn("edge"), plain).Build()
	p, err := NewPolicy(image, "")
	require.NoError(t, err)
	chk := &Checker{Policy: p, Namespaces: c}
	pods := []corev1.Pod{*injected("edge", "a"), *injected("plain", "forged"), *injected("gone", "b"), *injected("edge", "c")}
	got, err := chk.Filter(context.Background(), pods)
	require.NoError(t, err)
	var kept []string
	for _, p := range got {
		kept = append(kept, p.Namespace+"/"+p.Name)
	}
	assert.Equal(t, []string{"edge/a", "edge/c"}, kept)
	err = chk.CheckPod(context.Background(), injected("plain", "forged"))
	require.ErrorIs(t, err, ErrUntrusted)
	assert.Contains(t, err.Error(), `namespace plain has not opted in (annotation elasti.dev/inject="", want "enabled")`)
}

func TestEveryRuleIsDocumented(t *testing.T) {
	for _, r := range Rules {
		assert.NotEmpty(t, r.Doc, r.Reason)
	}
}

func TestDocsTrustTable(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "security.md"))
	require.NoError(t, err, "reading docs/security.md")
	assert.Contains(t, string(doc), TableMarkdown(), "docs/security.md must contain the table rendered from Rules:\n%s", TableMarkdown())
}

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

func pod(name string, phase corev1.PodPhase, deleting bool, opts ...func(*corev1.Pod)) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Phase: phase}}
	if deleting {
		p.DeletionTimestamp = &metav1.Time{}
	}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func withSidecar(native bool) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		c := corev1.Container{Name: names.SidecarContainerName}
		if native {
			c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
			p.Spec.InitContainers = append(p.Spec.InitContainers, c)
			return
		}
		p.Spec.Containers = append(p.Spec.Containers, c)
	}
}

func owned(rs string, images ...string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: rs}}
		for i := 0; i+1 < len(images); i += 2 {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Image: images[i], ImageID: images[i+1]})
		}
	}
}

func TestLivePodSkipsTerminatingAndPending(t *testing.T) {
	cases := []struct {
		name string
		pods []corev1.Pod
		want string
	}{
		{"a rollout's old pod, still Running, is not taken",
			[]corev1.Pod{pod("old", corev1.PodRunning, true), pod("new", corev1.PodRunning, false)}, "new"},
		{"a pending pod is not taken", []corev1.Pod{pod("pending", corev1.PodPending, false)}, ""},
		{"only terminating pods: none", []corev1.Pod{pod("old", corev1.PodRunning, true)}, ""},
		{"none", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := livePod(tc.pods)
			if tc.want == "" {
				assert.False(t, ok)
				return
			}
			require.True(t, ok)
			assert.Equal(t, tc.want, p.Name)
		})
	}
}

func TestWithoutSidecar(t *testing.T) {
	pods := []corev1.Pod{
		pod("native", corev1.PodRunning, false, withSidecar(true)),
		pod("regular", corev1.PodRunning, false, withSidecar(false)),
		pod("bare-pending", corev1.PodPending, false),
		pod("bare-terminating", corev1.PodRunning, true),
	}
	assert.Equal(t, []string{"bare-pending"}, withoutSidecar(pods))
	assert.True(t, hasSidecar(&pods[0]))
	assert.True(t, hasSidecar(&pods[1]))
	assert.False(t, hasSidecar(&pods[2]))
}

func TestStaleOwners(t *testing.T) {
	want := map[string][]string{"operator": {"sha256:new"}, "gateway": {"import-1@sha256:g", "docker.io/elasti/gateway@sha256:g"}}
	cases := []struct {
		name string
		pods []corev1.Pod
		want []string
	}{
		{"current image: nothing", []corev1.Pod{pod("a", corev1.PodRunning, false, owned("op-1", "docker.io/elasti/operator:v0.1.0-dev", "sha256:new"))}, nil},
		{"older image: its ReplicaSet", []corev1.Pod{pod("a", corev1.PodRunning, false, owned("op-1", "docker.io/elasti/operator:v0.1.0-dev", "sha256:old"))}, []string{"op-1"}},
		{"any of the runtime's IDs is current", []corev1.Pod{pod("a", corev1.PodRunning, false, owned("gw-1", "elasti/gateway:v0.1.0-dev", "docker.io/elasti/gateway@sha256:g"))}, nil},
		{"an image the demo did not build: left alone", []corev1.Pod{pod("a", corev1.PodRunning, false, owned("x-1", "docker.io/library/nginx:1", "sha256:zzz"))}, nil},
		{"not started yet: left alone", []corev1.Pod{pod("a", corev1.PodPending, false, owned("op-1", "elasti/operator:v0.1.0-dev", ""))}, nil},
		{"being deleted: left alone", []corev1.Pod{pod("a", corev1.PodRunning, true, owned("op-1", "elasti/operator:v0.1.0-dev", "sha256:old"))}, nil},
		{"the sidecar of a gateway pod is an init container", []corev1.Pod{pod("a", corev1.PodRunning, false, owned("gw-2"), func(p *corev1.Pod) {
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Image: "docker.io/elasti/operator:v0.1.0-dev", ImageID: "sha256:old"}}
		})}, []string{"gw-2"}},
		{"each owner once, sorted", []corev1.Pod{
			pod("b", corev1.PodRunning, false, owned("op-2", "elasti/operator:v0.1.0-dev", "sha256:old")),
			pod("a", corev1.PodRunning, false, owned("op-1", "elasti/operator:v0.1.0-dev", "sha256:old", "elasti/gateway:v0.1.0-dev", "sha256:old")),
			pod("c", corev1.PodRunning, false, owned("op-1", "elasti/operator:v0.1.0-dev", "sha256:old")),
		}, []string{"op-1", "op-2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, staleOwners(tc.pods, want))
		})
	}
}

func TestElastiImageName(t *testing.T) {
	for image, want := range map[string]string{
		"docker.io/elasti/operator:v0.1.0-dev": "operator",
		"elasti/gateway:v0.1.0-dev":            "gateway",
		"elasti/sidecar@sha256:abc":            "sidecar",
		"docker.io/library/elasti:1":           "",
		"registry.example/elasti/operator:1":   "",
	} {
		assert.Equal(t, want, elastiImageName(image), image)
	}
}

func TestFlags(t *testing.T) {
	var tt timings
	require.NoError(t, tt.Set("cluster up=5.582"))
	require.NoError(t, tt.Set("a=b label=1"))
	assert.Error(t, tt.Set("no seconds"))
	assert.Error(t, tt.Set("label=abc"))
	assert.Equal(t, timings{{"cluster up", 5.582}, {"a=b label", 1}}, tt)
	var b bytes.Buffer
	tt.write(&b)
	assert.Equal(t, "  cluster up                                                            5.582s\n"+
		"  a=b label                                                             1.000s\n", b.String())
	long := strings.Repeat("x", 70)
	b.Reset()
	timings{{"short", 1}, {long, 2}}.write(&b)
	assert.Equal(t, "  short"+strings.Repeat(" ", 65)+"    1.000s\n  "+long+"    2.000s\n", b.String())

	ids := imageIDs{}
	require.NoError(t, ids.Set("gateway=import@sha256:a"))
	require.NoError(t, ids.Set("gateway=docker.io/elasti/gateway@sha256:a"))
	require.NoError(t, ids.Set("gateway=import@sha256:a"))
	assert.Error(t, ids.Set("gateway"))
	assert.Error(t, ids.Set("=x"))
	assert.Equal(t, imageIDs{"gateway": {"import@sha256:a", "docker.io/elasti/gateway@sha256:a"}}, ids)
}

func TestSmallHelpers(t *testing.T) {
	assert.Equal(t, []string{`2026/11/30 first answer after 1.05s`}, firstAnswers("started\n2026/11/30 first answer after 1.05s\nserving\n"))
	assert.True(t, allHaveSuffix([]string{"http://10.244.0.5:20000", "http://10.244.0.9:20000"}, ":20000"))
	assert.False(t, allHaveSuffix([]string{"http://10.244.0.5:20000", "http://10.244.0.7:8080"}, ":20000"))
}

func TestManifests(t *testing.T) {
	objs, err := framework.Decode(demoManifest, nil)
	require.NoError(t, err)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind()+"/"+o.GetName())
		if o.GetKind() != "Namespace" {
			assert.Equal(t, demoNS, o.GetNamespace(), o.GetKind())
		}
	}
	assert.Equal(t, []string{"Namespace/elasti-demo", "Deployment/gateway", "Service/gateway", "Deployment/demo-app",
		"Service/demo-app", "ElastiService/demo-app"}, kinds)
	ns := objs[0]
	assert.Equal(t, names.InjectEnabled, ns.GetAnnotations()[names.AnnotationInject])
	assert.Equal(t, gatewaySel, ns.GetAnnotations()[names.AnnotationGatewaySelector])

	ing, err := framework.Decode(ingressManifest, nil)
	require.NoError(t, err)
	require.Len(t, ing, 1)
	assert.Equal(t, framework.TraefikRouterName(demoNS, appName, traefikHost, "/"), "elasti-demo-demo-app-demo-example-test@kubernetes")
	assert.Empty(t, ing[0].GetAnnotations(), "the demo's Ingress carries no annotation")

	assert.Equal(t, int32(20001), sidecarPort([]elastiv1.SidecarPort{{Name: "grpc", SidecarPort: 20000}, {Name: "http", SidecarPort: 20001}}, "http"))
	assert.Zero(t, sidecarPort(nil, "http"))
}

package controller

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/pkg/names"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sidecarPod builds a gateway pod with a resolver (native sidecar when native is true).
func sidecarPod(name string, ips []string, ready, native bool, port int32) corev1.Pod {
	c := corev1.Container{Name: names.SidecarContainerName}
	if port != 0 {
		c.Ports = []corev1.ContainerPort{{Name: names.PortNameProxy, ContainerPort: port}}
	}
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "edge", UID: types.UID("uid-" + name),
			Labels: map[string]string{names.LabelResolver: "true"}},
		Spec:   corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "gateway"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	status := corev1.ContainerStatus{Name: names.SidecarContainerName, Ready: ready}
	if native {
		c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		p.Spec.InitContainers = []corev1.Container{c}
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{status}
	} else {
		p.Spec.Containers = append(p.Spec.Containers, c)
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "gateway", Ready: true}, status}
	}
	for _, ip := range ips {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(ips) > 0 {
		p.Status.PodIP = ips[0]
	}
	return p
}

// resolversOf pairs sidecars with their states (by pod UID; a sidecar without one is not
// connected).
func resolversOf(sidecars []sidecar, states map[types.UID]acks.State) []resolver {
	out := make([]resolver, len(sidecars))
	for i, s := range sidecars {
		out[i] = resolver{sidecar: s, state: states[s.UID]}
	}
	return out
}

// podKey is the key of a pod built by sidecarPod.
func podKey(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: "edge", Name: name}
}

func TestSidecarFromPod(t *testing.T) {
	terminating := sidecarPod("t", []string{"10.0.0.3"}, true, true, 0)
	terminating.DeletionTimestamp = &metav1.Time{}
	failed := sidecarPod("f", []string{"10.0.0.4"}, false, false, 0)
	failed.Status.Phase = corev1.PodFailed
	legacyIP := sidecarPod("l", nil, true, false, 0)
	legacyIP.Status.PodIP = "10.0.0.5"
	tests := []struct {
		name string
		pod  corev1.Pod
		ok   bool
		want sidecar
	}{
		{"native ready dual-stack", sidecarPod("a", []string{"10.0.0.1", "fd00::1"}, true, true, 9000), true,
			sidecar{Pod: podKey("a"), UID: "uid-a", NodeName: "node-a", IPv4: "10.0.0.1", IPv6: "fd00::1"}},
		// The container's readiness is not read: the Lease says whether the sidecar serves.
		{"container not ready", sidecarPod("b", []string{"fd00::2"}, false, false, 0), true,
			sidecar{Pod: podKey("b"), UID: "uid-b", NodeName: "node-a", IPv6: "fd00::2"}},
		{"terminating", terminating, true,
			sidecar{Pod: podKey("t"), UID: "uid-t", NodeName: "node-a", IPv4: "10.0.0.3", Terminating: true}},
		{"no address yet", sidecarPod("n", nil, false, true, 0), false, sidecar{}},
		{"finished pod", failed, false, sidecar{}},
		{"podIP only", legacyIP, true,
			sidecar{Pod: podKey("l"), UID: "uid-l", NodeName: "node-a", IPv4: "10.0.0.5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := sidecarFromPod(&tt.pod)
			require.Equal(t, tt.ok, ok)
			if !ok {
				return
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestBuildProxySlicesGolden(t *testing.T) {
	es := &v1alpha1.ElastiService{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop", UID: "es-uid"},
		Spec: v1alpha1.ElastiServiceSpec{Service: "orders"},
		Status: v1alpha1.ElastiServiceStatus{SidecarPorts: []v1alpha1.SidecarPort{
			{Name: "http", Port: 80, SidecarPort: 20001}, {Name: "grpc", Port: 9090, SidecarPort: 20002}, {Name: "", Port: 8080, SidecarPort: 20003},
		}}}
	// The range had no port left for grpc: it is left out of the slices.
	exhausted := es.DeepCopy()
	exhausted.Status.SidecarPorts = exhausted.Status.SidecarPorts[:1]
	multiPort := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop"},
		Spec: corev1.ServiceSpec{
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP},
				{Name: "grpc", Port: 9090, Protocol: corev1.ProtocolTCP, AppProtocol: ptr.To("kubernetes.io/h2c")},
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
			},
		},
	}
	single := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop"},
		Spec:       corev1.ServiceSpec{IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, Ports: []corev1.ServicePort{{Port: 8080}}},
	}
	terminating := sidecarPod("gw-3", []string{"10.0.0.3", "fd00::3"}, true, true, 0)
	terminating.DeletionTimestamp = &metav1.Time{}
	pods := []corev1.Pod{
		sidecarPod("gw-2", []string{"10.0.0.2", "fd00::2"}, false, false, 0),
		sidecarPod("gw-1", []string{"10.0.0.1", "fd00::1"}, true, true, 0),
		terminating,
		sidecarPod("gw-4", []string{"fd00::4"}, true, true, 0),
		sidecarPod("gw-moved", []string{"10.0.0.9"}, true, true, 9012),
		sidecarPod("gw-pending", nil, false, true, 0),
	}
	// What each sidecar's Lease says: gw-1 and gw-moved serve orders; gw-2 is connected but has
	// not opened orders' ports; gw-3 serves it but its pod is going away; gw-4 acknowledged it but
	// its stream ended (its process crashed).
	states := map[types.UID]acks.State{
		"uid-gw-1":     acks.NewState(true, "shop/orders"),
		"uid-gw-2":     acks.NewState(true, "shop/cart"),
		"uid-gw-3":     acks.NewState(true, "shop/orders"),
		"uid-gw-4":     acks.NewState(false, "shop/orders"),
		"uid-gw-moved": acks.NewState(true, "shop/orders"),
	}
	tests := []struct {
		name string
		es   *v1alpha1.ElastiService
		svc  *corev1.Service
		pods []corev1.Pod
	}{
		{"dualstack-multiport", es, multiPort, pods},
		{"ipv4-single-unnamed-port", es, single, pods},
		{"no-sidecars", es, multiPort, nil},
		{"port-not-allocated", exhausted, multiPort, pods[:2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := buildProxySlices(tt.es, tt.svc, resolversOf(sidecarsFromPods(tt.pods), states))
			out, err := yaml.Marshal(got)
			require.NoError(t, err)
			golden := filepath.Join("testdata", tt.name+".golden.yaml")
			if *update {
				require.NoError(t, os.WriteFile(golden, out, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run 'go test ./operator/internal/controller -run Golden -update' to create it")
			assert.Equal(t, string(want), string(out))
		})
	}
}

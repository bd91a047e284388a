package elastiserver

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/operator/internal/cacheopts"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/stream"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func service() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders"},
		Spec: corev1.ServiceSpec{
			ClusterIP:  "10.96.0.10",
			ClusterIPs: []string{"10.96.0.10", "fd00::10"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("web")},
				{Name: "grpc", Port: 9090, Protocol: corev1.ProtocolTCP, AppProtocol: ptr.To("kubernetes.io/h2c")},
			},
		},
	}
}

func slice(name string, family discoveryv1.AddressType, labels map[string]string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: labels},
		AddressType: family,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("http"), Port: ptr.To[int32](8080)},
			{Name: ptr.To("grpc"), Port: ptr.To[int32](9090)},
		},
		Endpoints: eps,
	}
}

func endpoint(pod, ip string, ready *bool, terminating bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: ready, Terminating: ptr.To(terminating)},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: pod},
	}
}

func targetPod(name string, probe *corev1.Probe) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "log-shipper", Image: "shipper"},
			{Name: "app", Image: "orders", ReadinessProbe: probe, Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 8080}}},
		}},
	}
}

func deletingPod(name string) *corev1.Pod {
	p := targetPod(name, nil)
	p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	p.Finalizers = []string{"test"}
	return p
}

func TestBuildGolden(t *testing.T) {
	own := map[string]string{discoveryv1.LabelServiceName: "orders", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}
	ours := map[string]string{discoveryv1.LabelServiceName: "orders", discoveryv1.LabelManagedBy: names.ControllerName}
	httpProbe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: "/healthz", Port: intstr.FromString("web"), HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "1"}},
	}}, TimeoutSeconds: 2}
	proxyES := elastiService("shop", "orders-es", "orders")
	proxyES.Status.Mode = v1alpha1.ModeProxy

	tests := []struct {
		name string
		objs []client.Object
	}{
		{name: "dualstack-multiport-proxy", objs: []client.Object{
			proxyES, service(),
			slice("orders-v4", discoveryv1.AddressTypeIPv4, own,
				endpoint("orders-a", "10.1.0.2", ptr.To(true), false),
				endpoint("orders-b", "10.1.0.3", nil, false),
				endpoint("orders-c", "10.1.0.4", ptr.To(false), true),
				// Still marked ready, but its pod is being deleted: left out, as the controller
				// does not count it (endpointslice.Ready).
				endpoint("orders-d", "10.1.0.5", ptr.To(true), false),
				// Its pod is gone from the cache: left out too.
				endpoint("orders-e", "10.1.0.6", ptr.To(true), false)),
			slice("orders-v6", discoveryv1.AddressTypeIPv6, own, endpoint("orders-a", "fd00:1::2", ptr.To(false), false)),
			slice("orders-elasti", discoveryv1.AddressTypeIPv4, ours, endpoint("gw-1", "10.2.0.9", ptr.To(true), false)),
			slice("cart-v4", discoveryv1.AddressTypeIPv4, map[string]string{discoveryv1.LabelServiceName: "cart"}, endpoint("cart-a", "10.1.9.9", ptr.To(true), false)),
			targetPod("orders-a", httpProbe), targetPod("orders-b", nil), targetPod("orders-c", nil), deletingPod("orders-d"),
		}},
		{name: "no-service-yet", objs: []client.Object{elastiService("shop", "orders", "orders")}},
		{name: "at-zero-serve-mode", objs: []client.Object{elastiService("shop", "orders", "orders"), service()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.objs...)
			b := &builder{c: f.client, clusterDomain: "cluster.local"}
			got, err := b.build(context.Background(), "shop", "orders", nil)
			require.NoError(t, err)
			require.NotNil(t, got)
			out, err := json.MarshalIndent(got, "", "  ")
			require.NoError(t, err)
			path := filepath.Join("testdata", "build-"+tt.name+".golden.json")
			if *update {
				require.NoError(t, os.WriteFile(path, append(out, '\n'), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to create the golden file")
			assert.JSONEq(t, string(want), string(out))
		})
	}
}

func TestBuildWithoutElastiService(t *testing.T) {
	f := newFixture(t, service())
	got, err := (&builder{c: f.client}).build(context.Background(), "shop", "orders", nil)
	require.NoError(t, err)
	assert.Nil(t, got, "a Service without ElastiService is not streamed")
}

func TestBuildKeepsTheLastProbeAtZero(t *testing.T) {
	f := newFixture(t, elastiService("shop", "orders", "orders"), service())
	prev := &stream.Service{Probe: &stream.Probe{Type: stream.ProbeTCP, Port: 8080, TimeoutSeconds: 1}}
	got, err := (&builder{c: f.client}).build(context.Background(), "shop", "orders", prev)
	require.NoError(t, err)
	assert.Equal(t, prev.Probe, got.Probe)
}

func TestProbeOf(t *testing.T) {
	tests := []struct {
		name  string
		probe *corev1.Probe
		want  *stream.Probe
	}{
		{name: "no probe"},
		{name: "http named port, defaults", probe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("web")}}},
			want: &stream.Probe{Type: stream.ProbeHTTP, Port: 8080, Path: "/", Scheme: "HTTP", TimeoutSeconds: 1}},
		{name: "https numeric port", probe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8443), Path: "/ready", Scheme: corev1.URISchemeHTTPS}}, TimeoutSeconds: 3},
			want: &stream.Probe{Type: stream.ProbeHTTP, Port: 8443, Path: "/ready", Scheme: "HTTPS", TimeoutSeconds: 3}},
		{name: "tcp", probe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("web")}}},
			want: &stream.Probe{Type: stream.ProbeTCP, Port: 8080, TimeoutSeconds: 1}},
		{name: "unknown port name", probe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("nope")}}}},
		{name: "exec is not forwarded", probe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}},
		{name: "grpc is not forwarded", probe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, probeOf(targetPod("p", tt.probe)))
			// The cache holds pods trimmed by cacheopts.TrimPod: the same probe must come out.
			trimmed, err := cacheopts.TrimPod(targetPod("p", tt.probe))
			require.NoError(t, err)
			assert.Equal(t, tt.want, probeOf(trimmed.(*corev1.Pod)), "from the trimmed pod")
		})
	}
}

// TestPodHandler: a pod that comes, starts leaving (deletion timestamp) or goes queues its
// namespace, so the streams stop showing its endpoints as soon as the controller stops counting
// them; other updates and resolver pods do not.
func TestPodHandler(t *testing.T) {
	pod := func(deleting bool, labels map[string]string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders-a", Labels: labels}}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
		}
		return p
	}
	resolver := map[string]string{names.LabelResolver: "true"}
	tests := []struct {
		name   string
		event  func(h toolscache.ResourceEventHandler)
		queued bool
	}{
		{"added", func(h toolscache.ResourceEventHandler) { h.OnAdd(pod(false, nil), false) }, true},
		{"deleted", func(h toolscache.ResourceEventHandler) { h.OnDelete(pod(false, nil)) }, true},
		{"starts leaving", func(h toolscache.ResourceEventHandler) { h.OnUpdate(pod(false, nil), pod(true, nil)) }, true},
		{"other update", func(h toolscache.ResourceEventHandler) {
			h.OnUpdate(pod(false, nil), pod(false, map[string]string{"app": "orders"}))
		}, false},
		{"resolver pod", func(h toolscache.ResourceEventHandler) { h.OnAdd(pod(false, resolver), false) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := workqueue.NewTyped[string]()
			defer q.ShutDown()
			tt.event(podHandler(q))
			if !tt.queued {
				assert.Zero(t, q.Len())
				return
			}
			require.Equal(t, 1, q.Len())
			k, _ := q.Get()
			assert.Equal(t, namespacePrefix+"shop", k)
		})
	}
}

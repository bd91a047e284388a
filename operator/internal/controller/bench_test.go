package controller

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/pkg/names"
)

// BenchmarkBuildProxySlices: every sidecar pod event rebuilds the slices of every ElastiService
// in proxy mode, so this runs (pods × services) often in a large cluster.
func BenchmarkBuildProxySlices(b *testing.B) {
	es := &v1alpha1.ElastiService{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop"}, Spec: v1alpha1.ElastiServiceSpec{Service: "orders"}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop"}, Spec: corev1.ServiceSpec{
		IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol},
		Ports:      []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "grpc", Port: 9090}},
	}}
	pods := make([]corev1.Pod, 200)
	for i := range pods {
		pods[i] = sidecarPod(fmt.Sprintf("gw-%d", i), []string{fmt.Sprintf("10.0.%d.%d", i/250, i%250), fmt.Sprintf("fd00::%x", i)}, i%7 != 0, true, 0)
	}
	states := map[types.UID]acks.State{}
	for i := range pods {
		states[pods[i].UID] = acks.NewState(i%7 != 0, "shop/orders")
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = buildProxySlices(es, svc, resolversOf(sidecarsFromPods(pods), states))
	}
}

// FuzzAnnotatedActivity: the last-activity annotation is parsed on every poll.
func FuzzAnnotatedActivity(f *testing.F) {
	for _, seed := range []string{"2026-01-05T10:00:00Z", "2026-01-05T10:00:00.5+02:00", "", "yesterday"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		es := &v1alpha1.ElastiService{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{names.AnnotationLastActivity: raw}}}
		ts, ok := annotatedActivity(es)
		if !ok {
			return
		}
		again, err := time.Parse(time.RFC3339Nano, ts.Format(time.RFC3339Nano))
		if err != nil || !again.Equal(ts) {
			t.Fatalf("%q parsed to %v, which does not round-trip: %v", raw, ts, err)
		}
	})
}

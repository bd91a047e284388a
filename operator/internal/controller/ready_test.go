package controller

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/operator/internal/endpointslice"
)

// TestReadyEndpointsSkipsTerminatingPods: an endpoint still marked ready whose pod is already
// being deleted (the endpoint controller has not caught up) does not count as a pod that serves.
func TestReadyEndpointsSkipsTerminatingPods(t *testing.T) {
	pod := func(name string) *corev1.ObjectReference {
		return &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: name}
	}
	ep := func(ref *corev1.ObjectReference, ready *bool, terminating *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, TargetRef: ref,
			Conditions: discoveryv1.EndpointConditions{Ready: ready, Terminating: terminating}}
	}
	slices := []discoveryv1.EndpointSlice{{Endpoints: []discoveryv1.Endpoint{
		ep(pod("live"), ptr.To(true), nil),
		ep(pod("unknown-readiness"), nil, nil),
		ep(pod("deleting"), ptr.To(true), nil),
		ep(pod("gone"), ptr.To(true), nil),
		ep(pod("not-ready"), ptr.To(false), nil),
		ep(pod("marked-terminating"), ptr.To(true), ptr.To(true)),
		ep(nil, ptr.To(true), nil),
	}}}
	now := metav1.Now()
	objs := []corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "live", Namespace: "shop"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "unknown-readiness", Namespace: "shop"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "deleting", Namespace: "shop", DeletionTimestamp: &now, Finalizers: []string{"test"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "marked-terminating", Namespace: "shop"}},
	}
	b := fake.NewClientBuilder().WithScheme(testenv.Scheme())
	for i := range objs {
		b = b.WithObjects(&objs[i])
	}
	// live, unknown-readiness and the endpoint without a pod reference count.
	assert.Equal(t, 3, readyEndpoints(slices, endpointslice.PodsFrom(context.Background(), b.Build())))
}

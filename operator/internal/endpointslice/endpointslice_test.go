package endpointslice

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/elasti-dev/elasti/pkg/names"
)

func podRef(name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: name}
}

// TestReady is the one definition of an endpoint that can serve, as a table.
func TestReady(t *testing.T) {
	now := metav1.Now()
	c := fake.NewClientBuilder().WithObjects(
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "live"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "deleting", DeletionTimestamp: &now, Finalizers: []string{"test"}}},
	).Build()
	leaving := PodsFrom(context.Background(), c)
	tests := []struct {
		name            string
		ref             *corev1.ObjectReference
		ready, term     *bool
		wantReady       bool
		wantTerminating bool
	}{
		{"ready", podRef("live"), ptr.To(true), nil, true, false},
		{"readiness unknown counts as ready", podRef("live"), nil, nil, true, false},
		{"not ready", podRef("live"), ptr.To(false), nil, false, false},
		{"terminating condition", podRef("live"), ptr.To(true), ptr.To(true), false, true},
		{"terminating condition false", podRef("live"), ptr.To(true), ptr.To(false), true, false},
		{"pod being deleted, still marked ready", podRef("deleting"), ptr.To(true), nil, false, true},
		{"pod gone from the cache", podRef("gone"), ptr.To(true), nil, false, true},
		{"no pod reference", nil, ptr.To(true), nil, true, false},
		{"a reference to something else", &corev1.ObjectReference{Kind: "Node", Name: "n1"}, ptr.To(true), nil, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, TargetRef: tt.ref,
				Conditions: discoveryv1.EndpointConditions{Ready: tt.ready, Terminating: tt.term}}
			assert.Equal(t, tt.wantReady, Ready(ep, leaving))
			assert.Equal(t, tt.wantTerminating, Terminating(ep, leaving))
		})
	}
}

func TestServiceSlices(t *testing.T) {
	slice := func(name string, labels map[string]string) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: labels}, AddressType: discoveryv1.AddressTypeIPv4}
	}
	c := fake.NewClientBuilder().WithObjects(
		slice("orders-own", map[string]string{discoveryv1.LabelServiceName: "orders", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}),
		slice("orders-custom", map[string]string{discoveryv1.LabelServiceName: "orders"}),
		slice("orders-elasti", map[string]string{discoveryv1.LabelServiceName: "orders", discoveryv1.LabelManagedBy: names.ControllerName}),
		slice("cart-own", map[string]string{discoveryv1.LabelServiceName: "cart"}),
	).Build()
	got, err := ServiceSlices(context.Background(), c, "shop", "orders")
	require.NoError(t, err)
	var gotNames []string
	for _, s := range got {
		gotNames = append(gotNames, s.Name)
		assert.False(t, IsElastis(&s))
	}
	assert.ElementsMatch(t, []string{"orders-own", "orders-custom"}, gotNames)

	elastis := &discoveryv1.EndpointSlice{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "orders-elasti"}, elastis))
	assert.True(t, IsElastis(elastis))
}

package controller

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/pkg/names"
)

// TestUnackedUsesServiceName: sidecars acknowledge services by the Service they front (what a
// request's Host names), which need not be the ElastiService's own name.
func TestUnackedUsesServiceName(t *testing.T) {
	es := &v1alpha1.ElastiService{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-scaler", Namespace: "shop"},
		Spec:       v1alpha1.ElastiServiceSpec{Service: "orders"},
		Status:     v1alpha1.ElastiServiceStatus{Mode: v1alpha1.ModeProxy},
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-elasti-ipv4", Namespace: "shop", Labels: map[string]string{
			names.LabelElastiService: es.Name, discoveryv1.LabelManagedBy: names.ControllerName}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "edge", Name: "gw-1", UID: "uid-gw-1"}},
			{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "edge", Name: "gw-2", UID: "uid-gw-2"}},
			{Addresses: []string{"10.0.0.3"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "edge", Name: "gw-3", UID: "uid-gw-3"}},
		},
	}
	c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithIndex(&v1alpha1.ElastiService{}, indexService, serviceIndexValue).
		WithObjects(es, slice).WithStatusSubresource(es).Build()
	store := &acks.Store{Client: c}
	for uid, keys := range map[types.UID][]string{"uid-gw-1": {"shop/orders"}, "uid-gw-2": {"shop/orders-scaler"}} {
		_, err := store.Record(context.Background(), acks.Sidecar{Namespace: "edge", Name: string(uid), UID: uid}, keys)
		require.NoError(t, err)
	}
	loop := &ScaleDownLoop{Reconciler: &Reconciler{Client: c}, APIReader: c, Acks: store}
	pending, err := loop.unacked(context.Background(), es)
	require.NoError(t, err)
	assert.Equal(t, []string{"edge/gw-2", "edge/gw-3"}, pending, "gw-1 acked the Service; gw-2 only the ElastiService's name; gw-3 nothing")
}

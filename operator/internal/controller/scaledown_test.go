package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/pkg/names"
)

// TestUnacked: sidecars acknowledge services by the Service they front, which need not be the
// ElastiService's own name; a sidecar whose stream is down or whose pod is going away is not
// waited for; one that acknowledged but is not yet listed ready in the slice still is.
func TestUnacked(t *testing.T) {
	es := &v1alpha1.ElastiService{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-scaler", Namespace: "shop"},
		Spec:       v1alpha1.ElastiServiceSpec{Service: "orders"},
		Status:     v1alpha1.ElastiServiceStatus{Mode: v1alpha1.ModeProxy},
	}
	edge := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge", Annotations: map[string]string{names.AnnotationInject: names.InjectEnabled}}}
	objs := []client.Object{es, edge}
	var eps []discoveryv1.Endpoint
	for i, name := range []string{"gw-1", "gw-2", "gw-3", "gw-down", "gw-leaving", "gw-lagging"} {
		pod := inNamespace(sidecarPod(name, []string{fmt.Sprintf("10.0.0.%d", i+1)}, true, true, 0), "edge")
		if name == "gw-leaving" {
			pod.DeletionTimestamp = &metav1.Time{Time: time.Now()}
			pod.Finalizers = []string{"test/keep"}
		}
		objs = append(objs, pod)
		if name != "gw-lagging" {
			eps = append(eps, discoveryv1.Endpoint{Addresses: []string{pod.Status.PodIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "edge", Name: name, UID: pod.UID}})
		}
	}
	objs = append(objs, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-elasti-ipv4", Namespace: "shop", Labels: map[string]string{
			names.LabelElastiService: es.Name, discoveryv1.LabelManagedBy: names.ControllerName}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
	})
	c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithIndex(&v1alpha1.ElastiService{}, indexService, serviceIndexValue).
		WithObjects(objs...).WithStatusSubresource(es).Build()
	store := &acks.Store{Client: c}
	ctx := context.Background()
	for name, keys := range map[string][]string{
		"gw-1": {"shop/orders"}, "gw-2": {"shop/orders-scaler"}, "gw-3": nil,
		"gw-down": nil, "gw-leaving": nil, "gw-lagging": {"shop/orders"},
	} {
		sc := acks.Sidecar{Namespace: "edge", Name: name, UID: types.UID("uid-" + name)}
		require.NoError(t, store.Connect(ctx, sc, "0123abcd", "stream-"+name))
		_, err := store.Record(ctx, sc, keys)
		require.NoError(t, err)
		if name == "gw-down" {
			require.NoError(t, store.Disconnect(ctx, sc, "stream-"+name))
		}
	}
	loop := &ScaleDownLoop{Controller: &Reconciler{Client: c, Trust: testTrust(t, c), Sidecars: store}, Tracker: NewTracker(), APIReader: c}
	progress, err := loop.unacked(ctx, es)
	require.NoError(t, err)
	assert.True(t, progress.switched)
	assert.False(t, progress.done())
	assert.Equal(t, []string{"edge/gw-2", "edge/gw-3", "edge/gw-lagging"}, progress.pending,
		"gw-1 acked the Service; gw-2 only the ElastiService's name; gw-3 nothing; gw-lagging is not in the slice yet")

	n, err := loop.readySidecars(ctx)
	require.NoError(t, err)
	assert.Equal(t, 4, n, "connected and not terminating: gw-1, gw-2, gw-3, gw-lagging")
	loop.AckTimeout = 150 * time.Millisecond
	assert.ErrorContains(t, loop.waitForAcks(ctx, es), "sidecars did not acknowledge the service within 150ms: edge/gw-2, edge/gw-3, edge/gw-lagging")

	// Before the switch to proxy mode nobody is asked to acknowledge anything yet.
	serve := es.DeepCopy()
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(es), serve))
	serve.Status.Mode = v1alpha1.ModeServe
	require.NoError(t, c.Status().Update(ctx, serve))
	progress, err = loop.unacked(ctx, es)
	require.NoError(t, err)
	assert.Equal(t, ackProgress{}, progress, "not switched yet")
	assert.False(t, progress.done())
	assert.ErrorContains(t, loop.waitForAcks(ctx, es), "the Service was not switched to proxy mode within 150ms")
}

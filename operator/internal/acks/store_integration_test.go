//go:build integration

package acks

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/pkg/names"
)

// staleReader answers Gets of Leases with a copy taken earlier, as a cache that has not seen the
// latest write would.
type staleReader struct {
	client.Reader
	lease *coordinationv1.Lease
}

func (s staleReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if l, ok := obj.(*coordinationv1.Lease); ok && s.lease != nil && key.Name == s.lease.Name {
		s.lease.DeepCopyInto(l)
		return nil
	}
	return s.Reader.Get(ctx, key, obj, opts...)
}

// TestIntegrationStore: against a real API server, a write computed from a stale copy of the
// Lease is refused (the merge patch carries the resourceVersion it was computed against) and
// computed again from a fresh read, so no acknowledgement is lost or left behind; the collector
// deletes the Lease of a pod that is gone and keeps the others.
func TestIntegrationStore(t *testing.T) {
	env := testenv.Start(t, nil)
	c := env.Client
	ctx := context.Background()
	for _, ns := range []string{names.SystemNamespace, "edge"} {
		require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	pods := map[string]*corev1.Pod{}
	for _, name := range []string{"gw-1", "gw-2"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "gateway", Image: "gateway"}}}}
		require.NoError(t, c.Create(ctx, p))
		pods[name] = p
	}
	sc := Sidecar{Namespace: "edge", Name: "gw-1", UID: pods["gw-1"].UID}
	store := &Store{Client: c, APIReader: c}
	_, err := store.Record(ctx, sc, []string{"shop/orders", "shop/cart"})
	require.NoError(t, err)
	stale := &coordinationv1.Lease{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: names.SystemNamespace, Name: LeaseName(sc.UID)}, stale))

	// Another replica records a change the stale copy does not show.
	_, err = store.Record(ctx, sc, []string{"shop/orders"})
	require.NoError(t, err)

	behind := &Store{Client: c, APIReader: c}
	_, err = behind.record(ctx, staleReader{Reader: c, lease: stale}, false, sc, func(map[string]string) map[string]bool {
		return map[string]bool{mustKey(t, "shop/orders"): true, mustKey(t, "pay/api"): true}
	})
	require.True(t, apierrors.IsConflict(err), "a patch computed from a stale copy must conflict: %v", err)
	// Through Record, the conflict is retried from the API server.
	n, err := behind.Record(ctx, sc, []string{"shop/orders", "pay/api"})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	l := &coordinationv1.Lease{}
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(stale), l))
	assert.Equal(t, []string{"pay/api", "shop/orders"}, Services(l), "shop/cart, removed by the other replica, stays removed")

	sc2 := Sidecar{Namespace: "edge", Name: "gw-2", UID: pods["gw-2"].UID}
	_, err = store.Record(ctx, sc2, []string{"shop/orders"})
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, pods["gw-2"], client.GracePeriodSeconds(0)))
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(pods["gw-2"]), &corev1.Pod{}))
	}, 10*time.Second, 50*time.Millisecond)
	col := &Collector{Store: store, Pods: c, APIReader: c, MinAge: time.Nanosecond}
	deleted, err := col.Collect(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, deleted)
	assert.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: names.SystemNamespace, Name: LeaseName(sc.UID)}, &coordinationv1.Lease{}))
	assert.True(t, apierrors.IsNotFound(c.Get(ctx, client.ObjectKey{Namespace: names.SystemNamespace, Name: LeaseName(sc2.UID)}, &coordinationv1.Lease{})))
}

// staleClient is a client whose Gets of one Lease answer a copy taken earlier (a replica's cache
// behind another replica's write) and whose writes reach the API server.
type staleClient struct {
	client.Client
	lease *coordinationv1.Lease
}

func (s staleClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return staleReader{Reader: s.Client, lease: s.lease}.Get(ctx, key, obj, opts...)
}

// TestIntegrationStaleCacheRestartedSidecar: a resolver process restarts; its new stream reaches
// replica A, whose Connect drops the old process's acknowledgements; its Ack of the same services
// reaches replica B, whose cache still shows them. B must not answer "nothing to write" from its
// cache: the acknowledgements would be lost and the sidecar never listed ready again (the CI
// failure of TestSidecarCrashKeepsGatewayReady after an API server restart, when caches lag).
// Likewise a Disconnect whose cache does not show its own stream yet checks the API server.
func TestIntegrationStaleCacheRestartedSidecar(t *testing.T) {
	env := testenv.Start(t, nil)
	c := env.Client
	ctx := context.Background()
	for _, ns := range []string{names.SystemNamespace, "edge"} {
		require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: "gw"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "gateway", Image: "gateway"}}}}
	require.NoError(t, c.Create(ctx, pod))
	sc := Sidecar{Namespace: "edge", Name: "gw", UID: pod.UID}
	key := client.ObjectKey{Namespace: names.SystemNamespace, Name: LeaseName(sc.UID)}
	services := []string{"shop/cart", "shop/orders"}
	replicaA := &Store{Client: c, APIReader: c}

	require.NoError(t, replicaA.Connect(ctx, sc, "aaaa", "stream-1"))
	_, err := replicaA.Record(ctx, sc, services)
	require.NoError(t, err)
	old := &coordinationv1.Lease{}
	require.NoError(t, c.Get(ctx, key, old))
	require.True(t, StateOf(old).Live("shop/orders"))

	// The process restarts: its new stream reaches A, which drops the acknowledgements.
	require.NoError(t, replicaA.Connect(ctx, sc, "bbbb", "stream-2"))
	// Its Ack reaches B, whose cache still holds the Lease from before the restart.
	replicaB := &Store{Client: staleClient{Client: c, lease: old}, APIReader: c}
	n, err := replicaB.Record(ctx, sc, services)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "both acknowledgements written again")
	l := &coordinationv1.Lease{}
	require.NoError(t, c.Get(ctx, key, l))
	assert.Equal(t, services, Services(l))
	assert.True(t, StateOf(l).Live("shop/orders"), "the restarted sidecar is live for its services")
	assert.Equal(t, "bbbb", l.Annotations[AnnotationInstance])

	// The same Ack again, with a cache that is current: nothing written.
	n, err = replicaA.Record(ctx, sc, services)
	require.NoError(t, err)
	assert.Equal(t, 0, n)

	// Stream 3 connects through A, then ends at once; B's cache does not show it yet (it shows
	// stream 2): the Disconnect still clears it, reading the API server.
	require.NoError(t, replicaA.Connect(ctx, sc, "bbbb", "stream-3"))
	current := l.DeepCopy()
	replicaB = &Store{Client: staleClient{Client: c, lease: current}, APIReader: c}
	require.NoError(t, replicaB.Disconnect(ctx, sc, "stream-3"))
	require.NoError(t, c.Get(ctx, key, l))
	assert.False(t, StateOf(l).Connected, "stream 3 ended: the sidecar is not connected")
	// A Disconnect of a stream the Lease does not name (the sidecar reconnected) changes nothing.
	require.NoError(t, replicaA.Connect(ctx, sc, "bbbb", "stream-4"))
	require.NoError(t, replicaB.Disconnect(ctx, sc, "stream-3"))
	require.NoError(t, c.Get(ctx, key, l))
	assert.Equal(t, "stream-4", l.Annotations[AnnotationStream])
}

func mustKey(t *testing.T, svc string) string {
	k, ok := AnnotationKey(svc)
	require.True(t, ok)
	return k
}

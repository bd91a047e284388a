package acks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

var gw = Sidecar{Namespace: "edge", Name: "gw-1", UID: "uid-1"}

// patchLog records the size of every patch and the number of writes.
type patchLog struct {
	sizes  []int
	writes int
}

func newStore(t *testing.T, log *patchLog, conflicts int, objs ...client.Object) *Store {
	t.Helper()
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			data, _ := p.Data(obj)
			log.sizes = append(log.sizes, len(data))
			log.writes++
			if conflicts > 0 {
				conflicts--
				return apierrors.NewConflict(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, obj.GetName(), fmt.Errorf("changed"))
			}
			return c.Patch(ctx, obj, p, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			log.writes++
			return c.Create(ctx, obj, opts...)
		},
	}).Build()
	return &Store{Client: c, Namespace: "elasti-system", Now: func() time.Time { return time.Unix(1800000000, 0) }}
}

func acked(t *testing.T, s *Store, uid types.UID, svc string) bool {
	t.Helper()
	states, err := s.States(context.Background())
	require.NoError(t, err)
	return states[uid].Acked(svc)
}

func TestRecord(t *testing.T) {
	log := &patchLog{}
	s := newStore(t, log, 0)
	ctx := context.Background()
	assert.False(t, acked(t, s, gw.UID, "shop/orders"), "no Lease: nothing acknowledged")

	n, err := s.Record(ctx, gw, []string{"shop/orders", "shop/cart"})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.True(t, acked(t, s, gw.UID, "shop/orders"))
	assert.True(t, acked(t, s, gw.UID, "shop/cart"))
	assert.False(t, acked(t, s, "uid-2", "shop/orders"), "another sidecar")

	l := &coordinationv1.Lease{}
	require.NoError(t, s.Client.Get(ctx, client.ObjectKey{Namespace: "elasti-system", Name: "elasti-acks-uid-1"}, l))
	assert.Equal(t, "edge/gw-1", *l.Spec.HolderIdentity)
	assert.Equal(t, "true", l.Labels[LabelAcks])
	assert.Equal(t, []string{"shop/cart", "shop/orders"}, Services(l))

	n, err = s.Record(ctx, gw, []string{"shop/cart", "shop/orders"})
	require.NoError(t, err)
	assert.Zero(t, n, "nothing changed: nothing written")
	assert.Equal(t, 1, log.writes)

	n, err = s.Record(ctx, gw, []string{"shop/cart", "pay/api"})
	require.NoError(t, err)
	assert.Equal(t, 2, n, "one added, one removed")
	assert.False(t, acked(t, s, gw.UID, "shop/orders"))
	assert.True(t, acked(t, s, gw.UID, "pay/api"))

	_, err = s.Record(ctx, gw, []string{"orders"})
	require.Error(t, err)
}

// TestRecordWritesOnlyChanges: with 1,000 services acknowledged, acknowledging one more sends a
// patch of one annotation (issue 17: acknowledgement traffic linear in the services changed).
func TestRecordWritesOnlyChanges(t *testing.T) {
	log := &patchLog{}
	s := newStore(t, log, 0)
	keys := make([]string, 0, 1001)
	for i := range 1000 {
		keys = append(keys, fmt.Sprintf("team-%03d/service-%03d", i%50, i))
	}
	_, err := s.Record(context.Background(), gw, keys)
	require.NoError(t, err)
	keys = append(keys, "shop/new-service")
	n, err := s.Record(context.Background(), gw, keys)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.Len(t, log.sizes, 1)
	assert.Less(t, log.sizes[0], 200, "the patch carries the change, not the list")
}

func TestRecordRetriesAConflict(t *testing.T) {
	log := &patchLog{}
	s := newStore(t, log, 1)
	_, err := s.Record(context.Background(), gw, []string{"shop/orders"})
	require.NoError(t, err)
	_, err = s.Record(context.Background(), gw, []string{"shop/orders", "shop/cart"})
	require.NoError(t, err)
	assert.Equal(t, 2, len(log.sizes), "conflict, then the retry")
	assert.True(t, acked(t, s, gw.UID, "shop/cart"))
}

func TestAnnotationKeys(t *testing.T) {
	for _, k := range []string{"shop/orders", "a/b", "x1/9abc"} {
		a, ok := AnnotationKey(k)
		require.True(t, ok, k)
		back, ok := serviceKey(a)
		require.True(t, ok, a)
		assert.Equal(t, k, back)
	}
	for _, bad := range []string{"", "shop", "/x", "x/", string(make([]byte, 64)) + "/x", "a/b/c", "a.b/c"} {
		_, ok := AnnotationKey(bad)
		assert.False(t, ok, bad)
	}
	for _, other := range []string{"kubectl.kubernetes.io/last-applied-configuration", "a.b.ack.elasti.dev/x", "ack.elasti.dev/x"} {
		_, ok := serviceKey(other)
		assert.False(t, ok, other)
	}
}

func TestCollect(t *testing.T) {
	old := metav1.NewTime(time.Unix(1800000000, 0).Add(-time.Hour))
	lease := func(uid, holder string, created metav1.Time) *coordinationv1.Lease {
		return &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: "elasti-system", Name: LeaseName(types.UID(uid)), CreationTimestamp: created,
				Labels: map[string]string{LabelAcks: "true"}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder},
		}
	}
	running := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: "gw-1", UID: "uid-1"}}
	replaced := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: "gw-2", UID: "uid-2-new"}}
	leader := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "elasti-system", Name: "elasti-operator.elasti.dev"}}
	s := newStore(t, &patchLog{}, 0, running, replaced, leader,
		lease("uid-1", "edge/gw-1", old),
		lease("uid-2", "edge/gw-2", old),
		lease("uid-3", "edge/gw-3", old),
		lease("uid-4", "edge/gw-4", metav1.NewTime(time.Unix(1800000000, 0))), // just created
	)
	c := &Collector{Store: s, Pods: s.Client, APIReader: s.Client}
	n, err := c.Collect(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	list := &coordinationv1.LeaseList{}
	require.NoError(t, s.Client.List(context.Background(), list))
	var left []string
	for _, l := range list.Items {
		left = append(left, l.Name)
	}
	assert.ElementsMatch(t, []string{"elasti-acks-uid-1", "elasti-acks-uid-4", "elasti-operator.elasti.dev"}, left)
}

// TestChange: a change Ack adds and removes its keys and leaves the others; a conflict is retried
// from the Lease as it is then; keys that are not "namespace/name" are refused before any write.
func TestChange(t *testing.T) {
	log := &patchLog{}
	s := newStore(t, log, 0)
	ctx := context.Background()
	n, err := s.Change(ctx, gw, []string{"shop/orders", "shop/cart"}, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "no Lease yet: created with what was added")
	n, err = s.Change(ctx, gw, []string{"pay/api"}, []string{"shop/orders", "not/acked"})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.True(t, acked(t, s, gw.UID, "shop/cart"), "left as it was")
	assert.True(t, acked(t, s, gw.UID, "pay/api"))
	assert.False(t, acked(t, s, gw.UID, "shop/orders"))
	n, err = s.Change(ctx, gw, []string{"pay/api"}, nil)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing changed: nothing written")
	n, err = s.Change(ctx, gw, []string{"x/y"}, []string{"x/y"})
	require.NoError(t, err)
	assert.Zero(t, n, "a key in both lists is removed (it was not there)")

	writes := log.writes
	_, err = s.Change(ctx, gw, []string{"orders"}, nil)
	require.Error(t, err)
	_, err = s.Change(ctx, gw, nil, []string{"a/b/c"})
	require.Error(t, err)
	assert.Equal(t, writes, log.writes, "refused before any write")

	conflicted := newStore(t, &patchLog{}, 1)
	_, err = conflicted.Record(ctx, gw, []string{"shop/orders"})
	require.NoError(t, err)
	_, err = conflicted.Change(ctx, gw, []string{"shop/cart"}, nil)
	require.NoError(t, err, "the conflict is retried")
	assert.True(t, acked(t, conflicted, gw.UID, "shop/cart"))
	assert.True(t, acked(t, conflicted, gw.UID, "shop/orders"))
}

package acks

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func state(t *testing.T, s *Store, uid types.UID) State {
	t.Helper()
	states, err := s.States(context.Background())
	require.NoError(t, err)
	return states[uid]
}

// TestPresence: a stream marks its sidecar connected; a new process (instance) starts with no
// acknowledgement; a stale stream's end does not disconnect a sidecar that reconnected.
func TestPresence(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, &patchLog{}, 0)
	assert.False(t, state(t, s, gw.UID).Connected, "no Lease: not connected")

	require.NoError(t, s.Connect(ctx, gw, "aaaa", "stream-1"))
	_, err := s.Record(ctx, gw, []string{"shop/orders"})
	require.NoError(t, err)
	st := state(t, s, gw.UID)
	assert.True(t, st.Connected)
	assert.True(t, st.Live("shop/orders"))
	assert.False(t, st.Live("shop/cart"))

	// The same process reconnects (an operator replica went away): its ports stayed open.
	require.NoError(t, s.Connect(ctx, gw, "aaaa", "stream-2"))
	assert.True(t, state(t, s, gw.UID).Live("shop/orders"))
	// The replica that served stream-1 notices its end late: stream-2 is untouched.
	require.NoError(t, s.Disconnect(ctx, gw, "stream-1"))
	assert.True(t, state(t, s, gw.UID).Connected)

	// The process crashes: its stream ends.
	require.NoError(t, s.Disconnect(ctx, gw, "stream-2"))
	st = state(t, s, gw.UID)
	assert.False(t, st.Connected)
	assert.True(t, st.Acked("shop/orders"))
	assert.False(t, st.Live("shop/orders"), "acknowledged, but nobody listens")

	// The restarted process connects as a new instance: nothing acknowledged until it says so.
	require.NoError(t, s.Connect(ctx, gw, "bbbb", "stream-3"))
	st = state(t, s, gw.UID)
	assert.True(t, st.Connected)
	assert.False(t, st.Acked("shop/orders"))
	_, err = s.Record(ctx, gw, []string{"shop/orders"})
	require.NoError(t, err)
	assert.True(t, state(t, s, gw.UID).Live("shop/orders"))

	require.NoError(t, s.Disconnect(ctx, Sidecar{Namespace: "edge", Name: "gone", UID: "uid-gone"}, "x"), "no Lease: nothing to do")

	// A sidecar older than instance ids (no header) acknowledges without listening on sidecar
	// ports: never connected.
	old := Sidecar{Namespace: "edge", Name: "gw-old", UID: "uid-old"}
	require.NoError(t, s.Connect(ctx, old, "", "stream-4"))
	_, err = s.Record(ctx, old, []string{"shop/orders"})
	require.NoError(t, err)
	assert.False(t, state(t, s, old.UID).Live("shop/orders"))
}

func TestConnectRetriesAConflict(t *testing.T) {
	log := &patchLog{}
	s := newStore(t, log, 1, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{
		Namespace: "elasti-system", Name: LeaseName(gw.UID), Labels: map[string]string{LabelAcks: "true"},
	}})
	require.NoError(t, s.Connect(context.Background(), gw, "aaaa", "stream-1"))
	assert.Equal(t, 2, log.writes)
	assert.True(t, state(t, s, gw.UID).Connected)
}

func TestChangedServices(t *testing.T) {
	a := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
		"shop.ack.elasti.dev/orders": "", "shop.ack.elasti.dev/cart": "", AnnotationStream: "s"}}}
	b := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
		"shop.ack.elasti.dev/orders": "", "edge.ack.elasti.dev/api": ""}}}
	assert.ElementsMatch(t, []string{"shop/cart", "edge/api"}, ChangedServices(a, b))
}

// TestStatesFollowsLeases: States keeps a Lease's parsed state until the Lease changes, and
// forgets it when the Lease is deleted.
func TestStatesFollowsLeases(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, &patchLog{}, 0)
	require.NoError(t, s.Connect(ctx, gw, "aaaa", "stream-1"))
	_, err := s.Record(ctx, gw, []string{"shop/orders"})
	require.NoError(t, err)
	assert.True(t, state(t, s, gw.UID).Live("shop/orders"))
	assert.True(t, state(t, s, gw.UID).Live("shop/orders"), "read again, unchanged")

	_, err = s.Record(ctx, gw, []string{"shop/cart"})
	require.NoError(t, err)
	st := state(t, s, gw.UID)
	assert.False(t, st.Live("shop/orders"), "the Lease changed: its new version is read")
	assert.True(t, st.Live("shop/cart"))

	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "elasti-system", Name: LeaseName(gw.UID)}}
	require.NoError(t, s.Client.Delete(ctx, lease))
	states, err := s.States(ctx)
	require.NoError(t, err)
	assert.NotContains(t, states, gw.UID)
	assert.Empty(t, s.memo, "a deleted Lease's state is forgotten")
}

package traffic

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)} }
func newClient(t *testing.T) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	require.NoError(t, coordinationv1.AddToScheme(s))
	return fake.NewClientBuilder().WithScheme(s).Build()
}

// TestLedgersAndMeter: two replicas count reports for one service; the leader's Meter sums them,
// keeps counting across a replica's restart, and measures the rate of an observation.
func TestLedgersAndMeter(t *testing.T) {
	ctx := context.Background()
	c, clk := newClient(t), newClock()
	a := &Ledger{Client: c, Namespace: "elasti-system", Replica: "op-a", Now: clk.now}
	b := &Ledger{Client: c, Namespace: "elasti-system", Replica: "op-b", Now: clk.now}
	m := &Meter{Reader: c, Namespace: "elasti-system", Now: clk.now}

	a.Add("shop/orders", 5, clk.t)
	require.NoError(t, a.Flush(ctx))
	require.NoError(t, m.Look(ctx))
	n := m.Count("shop/orders")
	assert.Zero(t, n, "totals counted before the Meter's first look are a baseline")

	clk.add(time.Second)
	m.Track("shop/orders")
	a.Add("shop/orders", 3, clk.t)
	b.Add("shop/orders", 4, clk.t)
	b.Add("shop/other", 1, clk.t)
	require.NoError(t, a.Flush(ctx))
	require.NoError(t, b.Flush(ctx))
	clk.add(time.Second)
	require.NoError(t, m.Look(ctx))
	n = m.Count("shop/orders")
	assert.Equal(t, int64(7), n, "3 more on op-a, 4 on op-b (a new count)")
	assert.InDelta(t, 7.0, m.Rate("shop/orders", time.Time{}, time.Minute), 0.001, "7 requests in the second since tracking began")

	// op-a restarts: a new Ledger, whose count starts again from its first report.
	a2 := &Ledger{Client: c, Namespace: "elasti-system", Replica: "op-a", Now: clk.now}
	clk.add(time.Second)
	a2.Add("shop/orders", 2, clk.t)
	require.NoError(t, a2.Flush(ctx))
	require.NoError(t, m.Look(ctx))
	n = m.Count("shop/orders")
	assert.Equal(t, int64(9), n, "a restarted count adds, never subtracts")

	// Nothing new for a while: the rate over a 2 s window falls to 0, the count stays.
	for range 3 {
		clk.add(time.Second)
		require.NoError(t, m.Look(ctx))
	}
	assert.Zero(t, m.Rate("shop/orders", time.Time{}, 2*time.Second))
	assert.InDelta(t, 9.0/5, m.Rate("shop/orders", time.Time{}, time.Hour), 0.001, "9 requests over the 5 s tracked")
	assert.Zero(t, m.Rate("shop/other", time.Time{}, time.Hour), "not tracked")

	m.Untrack("shop/orders")
	assert.Zero(t, m.Rate("shop/orders", time.Time{}, time.Hour))
}

// TestRateIsMeasuredOverAtLeastASecond: one request right after tracking began is not read as a
// huge rate.
func TestRateIsMeasuredOverAtLeastASecond(t *testing.T) {
	ctx := context.Background()
	c, clk := newClient(t), newClock()
	l := &Ledger{Client: c, Namespace: "ns", Replica: "r", Now: clk.now}
	m := &Meter{Reader: c, Namespace: "ns", Now: clk.now}
	require.NoError(t, m.Look(ctx))
	m.Track("a/b")
	clk.add(100 * time.Millisecond)
	l.Add("a/b", 1, clk.t)
	require.NoError(t, l.Flush(ctx))
	require.NoError(t, m.Look(ctx))
	assert.InDelta(t, 1.0, m.Rate("a/b", time.Time{}, time.Minute), 0.001)
}

// TestLedgerWritesOnlyChanges: a flush with nothing new writes nothing; old totals are dropped.
func TestLedgerWritesOnlyChanges(t *testing.T) {
	ctx := context.Background()
	c, clk := newClient(t), newClock()
	l := &Ledger{Client: c, Namespace: "ns", Replica: "r", Now: clk.now}
	l.Add("a/b", 0, clk.t)
	require.NoError(t, l.Flush(ctx))
	lease := &coordinationv1.Lease{}
	assert.Error(t, c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: LeaseName("r")}, lease), "nothing counted: no lease")

	l.Add("a/b", 2, clk.t)
	require.NoError(t, l.Flush(ctx))
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: LeaseName("r")}, lease))
	rv := lease.ResourceVersion
	require.NoError(t, l.Flush(ctx))
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: LeaseName("r")}, lease))
	assert.Equal(t, rv, lease.ResourceVersion, "no change, no write")

	clk.add(2 * time.Hour)
	l.Add("c/d", 1, clk.t)
	require.NoError(t, l.Flush(ctx))
	leases, err := Leases(ctx, c, "ns")
	require.NoError(t, err)
	assert.Equal(t, []string{"c/d"}, keys(leases[LeaseName("r")]), "a total not counted for an hour is dropped")
}

// TestLedgerRecoversFromADeletedLease: a Lease deleted under the Ledger is created again.
func TestLedgerRecoversFromADeletedLease(t *testing.T) {
	ctx := context.Background()
	c, clk := newClient(t), newClock()
	l := &Ledger{Client: c, Namespace: "ns", Replica: "r", Now: clk.now}
	l.Add("a/b", 1, clk.t)
	require.NoError(t, l.Flush(ctx))
	require.NoError(t, c.Delete(ctx, &coordinationv1.Lease{ObjectMeta: metav1ObjectMeta("ns", LeaseName("r"))}))
	l.Add("a/b", 1, clk.t)
	require.Error(t, l.Flush(ctx), "the update fails once")
	require.NoError(t, l.Flush(ctx), "then the Lease is created again")
	leases, err := Leases(ctx, c, "ns")
	require.NoError(t, err)
	assert.Equal(t, int64(2), leases[LeaseName("r")]["a/b"].Count)
}

// TestStaleLeasesAreCollected: only Leases not renewed for the given time go.
func TestStaleLeasesAreCollected(t *testing.T) {
	ctx := context.Background()
	c, clk := newClient(t), newClock()
	old := &Ledger{Client: c, Namespace: "ns", Replica: "old", Now: clk.now}
	old.Add("a/b", 1, clk.t)
	require.NoError(t, old.Flush(ctx))
	clk.add(2 * time.Hour)
	cur := &Ledger{Client: c, Namespace: "ns", Replica: "cur", Now: clk.now}
	cur.Add("a/b", 1, clk.t)
	require.NoError(t, cur.Flush(ctx))
	n, err := CollectStale(ctx, c, c, "ns", time.Hour, clk.t)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	leases, err := Leases(ctx, c, "ns")
	require.NoError(t, err)
	assert.Equal(t, []string{LeaseName("cur")}, keys(leases))
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func metav1ObjectMeta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name}
}

// TestTrackBeforeTheFirstLook: an observation may start before the Meter ever looked; its
// requests still count.
func TestTrackBeforeTheFirstLook(t *testing.T) {
	ctx := context.Background()
	c, clk := newClient(t), newClock()
	m := &Meter{Reader: c, Namespace: "ns", Now: clk.now}
	m.Track("a/b")
	require.NoError(t, m.Look(ctx))
	clk.add(time.Second)
	l := &Ledger{Client: c, Namespace: "ns", Replica: "r", Now: clk.now}
	l.Add("a/b", 4, clk.t)
	require.NoError(t, l.Flush(ctx))
	clk.add(time.Second)
	require.NoError(t, m.Look(ctx))
	assert.InDelta(t, 2.0, m.Rate("a/b", time.Time{}, time.Minute), 0.001)
}

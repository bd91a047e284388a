//go:build integration

package controller

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/operator/internal/cacheopts"
	"github.com/elasti-dev/elasti/operator/internal/ports"
	"github.com/elasti-dev/elasti/pkg/scaling"
)

// TestIntegrationStatusFromAStaleCache (issue 13 part 8): the API server holds status.mode serve
// while the target is at zero, and the reconciler reads its ElastiService from a cache that
// missed that write: its copy already says proxy, with the conditions the reconcile computes.
// One reconcile must still leave the API server saying proxy, with a fresh lastReconciledTime.
func TestIntegrationStatusFromAStaleCache(t *testing.T) {
	env := testenv.Start(t, nil)
	c := env.Client
	ctx := context.Background()
	mustCreate(t, c, namespaces()...)
	mustCreate(t, c, workload("orders", 0)...)
	startSidecar(t, c, "gw-1", "10.0.0.1", true)
	setTargetEndpoints(t, c, "orders", false)
	mustCreate(t, c, elastiService("orders", false))
	key := types.NamespacedName{Namespace: shopNS, Name: "orders"}

	// A manager's cache with the controller's indexes, as the reconciler reads in the operator
	// (no controller runs: the test calls Reconcile itself).
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Cache: cacheopts.Options(leaseNS)})
	require.NoError(t, err)
	require.NoError(t, indexElastiServices(ctx, mgr))
	mgrCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = mgr.Start(mgrCtx) }()
	require.True(t, mgr.GetCache().WaitForCacheSync(ctx))
	// stale, once set, is what the cache holds for the ElastiService.
	var stale *v1alpha1.ElastiService
	reader := &staleReader{Client: mgr.GetClient(), key: key, stale: func() *v1alpha1.ElastiService { return stale }}
	sh, err := scaling.NewForConfig(env.Config, c, c.RESTMapper())
	require.NoError(t, err)
	now := time.Now()
	rec := &Reconciler{Client: reader, APIReader: c, Scaler: sh, Tracker: NewTracker(), Ports: ports.New(testPortRange),
		Trust: testTrust(t, reader), Sidecars: &acks.Store{Client: reader, Namespace: leaseNS}, Now: func() time.Time { return now }}

	// Reconciles with a fresh read: the target is at zero, so proxy.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		_, err := rec.Reconcile(ctx, ctrl.Request{NamespacedName: key})
		assert.NoError(ct, err)
		assert.Equal(ct, v1alpha1.ModeProxy, getES(ct, c, "orders").Status.Mode)
	}, waitFor, tick)
	truth := getES(t, c, "orders")
	stale = truth.DeepCopy()

	// Someone (an earlier leader) writes serve to the API server; the cache misses it.
	lost := truth.DeepCopy()
	lost.Status.Mode = v1alpha1.ModeServe
	meta.RemoveStatusCondition(&lost.Status.Conditions, v1alpha1.ConditionReady)
	require.NoError(t, c.Status().Update(ctx, lost))
	require.Equal(t, v1alpha1.ModeServe, getES(t, c, "orders").Status.Mode)

	now = now.Add(time.Minute)
	_, err = rec.Reconcile(ctx, ctrl.Request{NamespacedName: key})
	require.NoError(t, err)
	got := getES(t, c, "orders")
	assert.Equal(t, v1alpha1.ModeProxy, got.Status.Mode, "the truth is written although the cached copy already said so")
	assert.NotNil(t, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady))
}

// staleReader returns stale() for the ElastiService key once it is set, and reads through
// otherwise.
type staleReader struct {
	client.Client
	key   types.NamespacedName
	stale func() *v1alpha1.ElastiService
}

func (r *staleReader) Get(ctx context.Context, k client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if es, ok := obj.(*v1alpha1.ElastiService); ok && k == r.key && r.stale() != nil {
		r.stale().DeepCopyInto(es)
		return nil
	}
	return r.Client.Get(ctx, k, obj, opts...)
}

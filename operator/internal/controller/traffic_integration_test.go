//go:build integration

package controller

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/operator/internal/traffic"
)

// TestIntegrationTrafficTrigger runs the traffic trigger against a real API server: a quiet
// service is observed in proxy mode after its cooldown, requests reported by a replica's Ledger
// end the observation at once, and an observation without requests for the cooldown scales the
// target to zero.
func TestIntegrationTrafficTrigger(t *testing.T) {
	env := testenv.Start(t, nil)
	c := env.Client
	mustCreate(t, c, namespaces()...)
	mustCreate(t, c, workload("orders", 1)...)
	startSidecar(t, c, "gw-1", "10.0.0.1", true)
	startSidecar(t, c, "gw-2", "10.0.0.2", true)
	setTargetEndpoints(t, c, "orders", true)

	op := newOperator(t, env, "", nil)
	op.loop.Traffic = &traffic.Meter{Reader: op.mgr.GetAPIReader(), Namespace: leaseNS}
	op.loop.ObserveInterval = 100 * time.Millisecond
	require.NoError(t, op.mgr.Add(op.loop))
	op.start(t)
	const cooldown = 3 * time.Second
	es := elastiService("orders", false)
	es.Spec.CooldownPeriod = ptr.To(int32(cooldown / time.Second))
	es.Spec.Triggers = []v1alpha1.ScaleTrigger{{Type: v1alpha1.TriggerTypeTraffic}}
	mustCreate(t, c, es)
	ledger := &traffic.Ledger{Client: c, Namespace: leaseNS, Replica: "operator-a"}

	readyReason := func(es *v1alpha1.ElastiService) string {
		if cond := meta.FindStatusCondition(es.Status.Conditions, v1alpha1.ConditionReady); cond != nil {
			return cond.Reason
		}
		return ""
	}
	waitObserving := func(t *testing.T) {
		t.Helper()
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			es := getES(ct, c, "orders")
			assert.Equal(ct, v1alpha1.ModeProxy, es.Status.Mode)
			assert.Equal(ct, ReasonObserving, readyReason(es))
			if assert.NotNil(ct, es.Status.Traffic) {
				assert.NotNil(ct, es.Status.Traffic.ObservingSince)
			}
			assertSlice(ct, proxySlices(ct, c, "orders"), map[string]bool{"10.0.0.1": true, "10.0.0.2": true})
		}, waitFor, tick)
	}

	t.Run("serve mode until the cooldown has passed, then an observation", func(t *testing.T) {
		start := time.Now()
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			es := getES(ct, c, "orders")
			assert.Equal(ct, v1alpha1.ModeServe, es.Status.Mode)
			if assert.NotNil(ct, es.Status.Traffic) {
				assert.NotNil(ct, es.Status.Traffic.NextObservationTime)
			}
		}, waitFor, tick)
		waitObserving(t)
		assert.GreaterOrEqual(t, time.Since(start), cooldown-time.Second, "not observed before the cooldown")
		assert.Equal(t, int32(1), replicas(t, c, "orders"), "an observation keeps the pods")
		assertEvent(t, c, "orders", ReasonObservationStarted)
	})

	t.Run("a forwarded request ends the observation at once", func(t *testing.T) {
		ledger.Add("shop/orders", 5, time.Now())
		require.NoError(t, ledger.Flush(context.Background()))
		reported := time.Now()
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			es := getES(ct, c, "orders")
			assert.Equal(ct, v1alpha1.ModeServe, es.Status.Mode)
			assert.Empty(ct, proxySlices(ct, c, "orders"))
			if assert.NotNil(ct, es.Status.Traffic) {
				assert.Nil(ct, es.Status.Traffic.ObservingSince)
				assert.NotNil(ct, es.Status.Traffic.LastActiveTime)
				assert.NotEqual(ct, "0", es.Status.Traffic.ObservedRate)
			}
		}, waitFor, tick)
		assert.Less(t, time.Since(reported), cooldown, "back to serve well before the cooldown")
		assertEvent(t, c, "orders", ReasonObservationEnded)
		assert.Equal(t, int32(1), replicas(t, c, "orders"))
	})

	t.Run("no request for a whole observation: scaled to zero", func(t *testing.T) {
		waitObserving(t)
		require.Eventually(t, func() bool { return replicas(t, c, "orders") == 0 }, waitFor, tick)
		setTargetEndpoints(t, c, "orders", false)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			es := getES(ct, c, "orders")
			assert.Equal(ct, v1alpha1.ModeProxy, es.Status.Mode)
			assert.True(ct, meta.IsStatusConditionTrue(es.Status.Conditions, v1alpha1.ConditionScaledToZero))
			if assert.NotNil(ct, es.Status.Traffic) {
				assert.Nil(ct, es.Status.Traffic.ObservingSince)
			}
		}, waitFor, tick)
	})
}

//go:build integration

package controller

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/pkg/names"
)

// TestIntegrationController drives one operator against a real API server through the life of
// two ElastiServices: a manual scale to zero and back, the trigger loop's scale-down with acks,
// a cancelled scale-down, sidecar churn, and deletion at zero.
func TestIntegrationController(t *testing.T) {
	env := testenv.Start(t, nil)
	c := env.Client
	mustCreate(t, c, namespaces()...)
	mustCreate(t, c, workload("orders", 1)...)
	mustCreate(t, c, workload("cart", 1)...)
	gw1 := startSidecar(t, c, "gw-1", "10.0.0.1", true)
	gw2 := startSidecar(t, c, "gw-2", "10.0.0.2", true)
	setTargetEndpoints(t, c, "orders", true)
	setTargetEndpoints(t, c, "cart", true)

	op := newOperator(t, env, "", nil)
	op.start(t)
	mustCreate(t, c, elastiService("orders", false), elastiService("cart", true))

	t.Run("serve while the target is ready", func(t *testing.T) {
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			es := getES(ct, c, "orders")
			assert.Equal(ct, v1alpha1.ModeServe, es.Status.Mode)
			assert.Contains(ct, es.Finalizers, names.Finalizer)
			assert.True(ct, meta.IsStatusConditionTrue(es.Status.Conditions, v1alpha1.ConditionReady))
		}, waitFor, tick)
		assert.Empty(t, proxySlices(t, c, "orders"))
	})

	t.Run("manual scale to zero switches to proxy", func(t *testing.T) {
		setReplicas(t, c, "orders", 0)
		setTargetEndpoints(t, c, "orders", false)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			es := getES(ct, c, "orders")
			assert.Equal(ct, v1alpha1.ModeProxy, es.Status.Mode)
			assert.True(ct, meta.IsStatusConditionTrue(es.Status.Conditions, v1alpha1.ConditionScaledToZero))
			assertSlice(ct, proxySlices(ct, c, "orders"), map[string]bool{"10.0.0.1": true, "10.0.0.2": true})
		}, waitFor, tick)
	})

	t.Run("a sidecar is listed only while its namespace is opted in", func(t *testing.T) {
		// The resolver label and container, a ready status: all a pod author can forge.
		mustCreate(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain"}})
		forged := startSidecarIn(t, c, "plain", "forged", "10.0.0.9", true)
		require.Never(t, func() bool { return sliceListsIP(t, c, "orders", "10.0.0.9") }, 2*time.Second, tick,
			"a sidecar of a namespace that did not opt in must never be in a slice")
		setNamespaceOptIn(t, c, "plain", true) // what a cluster admin does
		require.Eventually(t, func() bool { return sliceListsIP(t, c, "orders", "10.0.0.9") }, waitFor, tick)
		setNamespaceOptIn(t, c, "plain", false)
		require.Eventually(t, func() bool { return !sliceListsIP(t, c, "orders", "10.0.0.9") }, waitFor, tick)
		require.NoError(t, c.Delete(context.Background(), forged))
	})

	t.Run("sidecar churn updates the slice", func(t *testing.T) {
		setSidecarStatus(t, c, gw2, "10.0.0.2", false)
		require.NoError(t, c.Delete(context.Background(), gw1))
		gw3 := startSidecar(t, c, "gw-3", "10.0.0.3", true)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assertSlice(ct, proxySlices(ct, c, "orders"), map[string]bool{"10.0.0.2": false, "10.0.0.3": true})
		}, waitFor, tick)
		setSidecarStatus(t, c, gw2, "10.0.0.2", true)
		gw1 = gw3
	})

	t.Run("a restarted resolver is listed again only once it acknowledged", func(t *testing.T) {
		store := &acks.Store{Client: c, Namespace: leaseNS}
		sc := acks.Sidecar{Namespace: gw2.Namespace, Name: gw2.Name, UID: gw2.UID}
		// The process crashes: its stream ends.
		require.NoError(t, store.Disconnect(context.Background(), sc, "stream-"+gw2.Name))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assertSlice(ct, proxySlices(ct, c, "orders"), map[string]bool{"10.0.0.2": false, "10.0.0.3": true})
		}, waitFor, tick)
		// The restarted process connects: its ports are not open yet.
		require.NoError(t, store.Connect(context.Background(), sc, "2", "stream-2-"+gw2.Name))
		require.Never(t, func() bool { return sliceReady(t, c, "orders", "10.0.0.2") }, time.Second, tick,
			"a new process is ready for a Service only once it acknowledged it")
		_, err := store.Record(context.Background(), sc, []string{"shop/orders", "shop/cart"})
		require.NoError(t, err)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assertSlice(ct, proxySlices(ct, c, "orders"), map[string]bool{"10.0.0.2": true, "10.0.0.3": true})
		}, waitFor, tick)
	})

	t.Run("scale up and ready pods return to serve", func(t *testing.T) {
		setReplicas(t, c, "orders", 1)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			es := getES(ct, c, "orders")
			assert.Equal(ct, v1alpha1.ModeProxy, es.Status.Mode, "waking: still proxy until a pod is ready")
			assert.Equal(ct, ReasonWaking, meta.FindStatusCondition(es.Status.Conditions, v1alpha1.ConditionReady).Reason)
		}, waitFor, tick)
		setTargetEndpoints(t, c, "orders", true)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assert.Equal(ct, v1alpha1.ModeServe, getES(ct, c, "orders").Status.Mode)
			assert.Empty(ct, proxySlices(ct, c, "orders"))
		}, waitFor, tick)
		assertEvent(t, c, "orders", "ScaledFromZero")
		assertEvent(t, c, "orders", "ModeChanged")
	})

	t.Run("idle triggers: proxy first, acks, then zero", func(t *testing.T) {
		ack(t, c, gw1, "shop/orders")
		ack(t, c, gw2, "shop/orders")
		op.eval.idle.Store(true)
		done := make(chan struct{})
		go func() { defer close(done); op.loop.Poll(context.Background()) }()
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assert.Equal(ct, v1alpha1.ModeProxy, getES(ct, c, "cart").Status.Mode)
			assert.Len(ct, proxySlices(ct, c, "cart"), 1)
		}, waitFor, tick)
		assert.Equal(t, int32(1), replicas(t, c, "cart"), "not scaled before the sidecars acknowledged")
		ack(t, c, gw1, "shop/cart,shop/orders")
		ack(t, c, gw2, "shop/cart")
		<-done
		assert.Equal(t, int32(0), replicas(t, c, "cart"))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			es := getES(ct, c, "cart")
			assert.NotNil(ct, es.Status.LastScaledDownTime)
			assert.True(ct, meta.IsStatusConditionTrue(es.Status.Conditions, v1alpha1.ConditionScaledToZero))
			assert.True(ct, meta.IsStatusConditionTrue(es.Status.Conditions, v1alpha1.ConditionTriggersHealthy))
		}, waitFor, tick)
		assertEvent(t, c, "cart", "ScaledToZero")
	})

	t.Run("a request during the switch cancels the scale-down", func(t *testing.T) {
		setReplicas(t, c, "cart", 1)
		setTargetEndpoints(t, c, "cart", true)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assert.Equal(ct, v1alpha1.ModeServe, getES(ct, c, "cart").Status.Mode)
		}, waitFor, tick)
		ack(t, c, gw1, "")
		done := make(chan struct{})
		go func() { defer close(done); op.loop.Poll(context.Background()) }()
		require.Eventually(t, func() bool { return len(proxySlices(t, c, "cart")) == 1 }, waitFor, tick)
		es := getES(t, c, "cart")
		orig := es.DeepCopy()
		es.Annotations = map[string]string{names.AnnotationLastActivity: time.Now().Add(time.Second).UTC().Format(time.RFC3339)}
		require.NoError(t, c.Patch(context.Background(), es, client.MergeFrom(orig)))
		ack(t, c, gw1, "shop/cart")
		<-done
		assert.Equal(t, int32(1), replicas(t, c, "cart"))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assert.Equal(ct, v1alpha1.ModeServe, getES(ct, c, "cart").Status.Mode)
			assert.Empty(ct, proxySlices(ct, c, "cart"))
		}, waitFor, tick)
		assertEvent(t, c, "cart", "ScaleDownCancelled")
	})

	t.Run("deleting at zero scales up first and keeps the sidecars until a pod is ready", func(t *testing.T) {
		setReplicas(t, c, "orders", 0)
		setTargetEndpoints(t, c, "orders", false)
		require.Eventually(t, func() bool { return len(proxySlices(t, c, "orders")) == 1 }, waitFor, tick)
		require.NoError(t, c.Delete(context.Background(), getES(t, c, "orders")))
		require.Eventually(t, func() bool { return replicas(t, c, "orders") == 2 }, waitFor, tick, "scaled to minTargetReplicas first")
		gone := func() bool {
			err := c.Get(context.Background(), client.ObjectKey{Namespace: shopNS, Name: "orders"}, &v1alpha1.ElastiService{})
			return apierrors.IsNotFound(err)
		}
		require.Never(t, func() bool { return gone() || len(proxySlices(t, c, "orders")) == 0 }, 2*time.Second, tick,
			"while no pod of the target is ready, the Service stays on the sidecars and the ElastiService waits")
		setTargetEndpoints(t, c, "orders", true)
		require.Eventually(t, gone, waitFor, tick)
		assert.Empty(t, proxySlices(t, c, "orders"))
	})
}

func sliceListsIP(t require.TestingT, c client.Client, es, ip string) bool {
	for _, s := range proxySlices(t, c, es) {
		for _, ep := range s.Endpoints {
			if slices.Contains(ep.Addresses, ip) {
				return true
			}
		}
	}
	return false
}

// sliceReady reports whether es's slices list ip as ready.
func sliceReady(t require.TestingT, c client.Client, es, ip string) bool {
	for _, s := range proxySlices(t, c, es) {
		for _, ep := range s.Endpoints {
			if slices.Contains(ep.Addresses, ip) && ptr.Deref(ep.Conditions.Ready, false) {
				return true
			}
		}
	}
	return false
}

func setNamespaceOptIn(t *testing.T, c client.Client, name string, on bool) {
	t.Helper()
	ns := &corev1.Namespace{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Name: name}, ns))
	orig := ns.DeepCopy()
	if on {
		ns.Annotations = map[string]string{names.AnnotationInject: names.InjectEnabled}
	} else {
		delete(ns.Annotations, names.AnnotationInject)
	}
	require.NoError(t, c.Patch(context.Background(), ns, client.MergeFrom(orig)))
}

// TestIntegrationLeaderElection runs two operator replicas with leader election against one API
// server: only the leader's loop evaluates triggers and the target is scaled to zero once.
func TestIntegrationLeaderElection(t *testing.T) {
	env := testenv.Start(t, nil)
	c := env.Client
	mustCreate(t, c, namespaces()...)
	mustCreate(t, c, workload("cart", 1)...)
	gw := startSidecar(t, c, "gw-1", "10.0.0.1", true)
	ack(t, c, gw, "shop/cart")
	setTargetEndpoints(t, c, "cart", true)
	mustCreate(t, c, elastiService("cart", true))

	var toZero atomic.Int32
	a := newOperator(t, env, "elasti-operator-test", &toZero)
	b := newOperator(t, env, "elasti-operator-test", &toZero)
	for _, o := range []*operator{a, b} {
		o.eval.idle.Store(true)
		require.NoError(t, o.mgr.Add(o.loop))
		o.start(t)
	}
	require.Eventually(t, func() bool { return replicas(t, c, "cart") == 0 }, waitFor, tick)
	// Both replicas keep running for a few more poll intervals: the follower must stay idle.
	time.Sleep(time.Second)
	assert.Equal(t, int32(1), toZero.Load(), "scaled to zero exactly once")
	evaluated := 0
	for _, o := range []*operator{a, b} {
		if o.eval.calls.Load() > 0 {
			evaluated++
		}
	}
	assert.Equal(t, 1, evaluated, "only the leader evaluates triggers")
}

// assertSlice checks the one IPv4 proxy slice of "orders": exactly the sidecars in want (IP →
// ready), both Service ports mapped to two distinct sidecar ports of the range.
func assertSlice(ct *assert.CollectT, slices []discoveryv1.EndpointSlice, want map[string]bool) {
	if !assert.Len(ct, slices, 1) {
		return
	}
	s := slices[0]
	assert.Equal(ct, "orders-elasti-ipv4", s.Name)
	got := map[string]bool{}
	for _, ep := range s.Endpoints {
		got[ep.Addresses[0]] = ptr.Deref(ep.Conditions.Ready, false)
		assert.Equal(ct, ptr.Deref(ep.Conditions.Ready, false), ptr.Deref(ep.Conditions.Serving, false))
	}
	assert.Equal(ct, want, got)
	if assert.Len(ct, s.Ports, 2) {
		for _, p := range s.Ports {
			assert.True(ct, testPortRange.Contains(ptr.Deref(p.Port, 0)), "port %s: %d", ptr.Deref(p.Name, ""), ptr.Deref(p.Port, 0))
		}
		assert.NotEqual(ct, ptr.Deref(s.Ports[0].Port, 0), ptr.Deref(s.Ports[1].Port, 0))
	}
}

func assertEvent(t *testing.T, c client.Client, es, reason string) {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		list := &eventsv1.EventList{}
		assert.NoError(ct, c.List(context.Background(), list, client.InNamespace(shopNS)))
		found := false
		for _, e := range list.Items {
			if e.Regarding.Name == es && e.Reason == reason {
				found = true
			}
		}
		assert.True(ct, found, "event %s on %s", reason, es)
	}, waitFor, tick)
}

// TestIntegrationTwoElastiServicesOneService: only the oldest ElastiService naming a Service
// manages it; a younger one says so in its status, never touches the slices or the target (not
// even when it is deleted), and takes over once the older one is gone.
func TestIntegrationTwoElastiServicesOneService(t *testing.T) {
	env := testenv.Start(t, nil)
	c := env.Client
	mustCreate(t, c, namespaces()...)
	mustCreate(t, c, workload("orders", 1)...)
	startSidecar(t, c, "gw-1", "10.0.0.1", true)
	setTargetEndpoints(t, c, "orders", true)
	op := newOperator(t, env, "", nil)
	op.start(t)

	first := elastiService("orders", false)
	mustCreate(t, c, first)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, v1alpha1.ModeServe, getES(ct, c, "orders").Status.Mode)
	}, waitFor, tick)
	// The same second would be decided by name: "orders" < "orders-copy" either way.
	dup := elastiService("orders", false)
	dup.Name = "orders-copy"
	mustCreate(t, c, dup)

	claimed := func(ct *assert.CollectT, name string) {
		es := getES(ct, c, name)
		ready := meta.FindStatusCondition(es.Status.Conditions, v1alpha1.ConditionReady)
		if assert.NotNil(ct, ready) {
			assert.Equal(ct, metav1.ConditionFalse, ready.Status)
			assert.Equal(ct, ReasonServiceClaimed, ready.Reason)
			assert.Contains(ct, ready.Message, "managed by ElastiService orders,")
		}
		assert.Empty(ct, es.Status.Mode)
		assert.Nil(ct, meta.FindStatusCondition(es.Status.Conditions, v1alpha1.ConditionScaledToZero))
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) { claimed(ct, "orders-copy") }, waitFor, tick)
	assertEvent(t, c, "orders-copy", ReasonServiceClaimed)

	t.Run("only the oldest switches to proxy", func(t *testing.T) {
		setReplicas(t, c, "orders", 0)
		setTargetEndpoints(t, c, "orders", false)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assert.Equal(ct, v1alpha1.ModeProxy, getES(ct, c, "orders").Status.Mode)
			assert.Len(ct, proxySlices(ct, c, "orders"), 1)
		}, waitFor, tick)
		time.Sleep(500 * time.Millisecond) // let the younger one's reconciles run too
		assert.Empty(t, proxySlices(t, c, "orders-copy"))
		assert.Len(t, proxySlices(t, c, "orders"), 1)
		require.EventuallyWithT(t, func(ct *assert.CollectT) { claimed(ct, "orders-copy") }, waitFor, tick)
	})

	t.Run("deleting the younger one leaves the target at zero and the slice in place", func(t *testing.T) {
		require.NoError(t, c.Delete(context.Background(), getES(t, c, "orders-copy")))
		require.Eventually(t, func() bool {
			return apierrors.IsNotFound(c.Get(context.Background(), client.ObjectKey{Namespace: shopNS, Name: "orders-copy"}, &v1alpha1.ElastiService{}))
		}, waitFor, tick)
		assert.Equal(t, int32(0), replicas(t, c, "orders"))
		assert.Len(t, proxySlices(t, c, "orders"), 1)
	})

	t.Run("the younger one takes over when the oldest is deleted", func(t *testing.T) {
		again := elastiService("orders", false)
		again.Name = "orders-copy"
		mustCreate(t, c, again)
		require.EventuallyWithT(t, func(ct *assert.CollectT) { claimed(ct, "orders-copy") }, waitFor, tick)
		require.NoError(t, c.Delete(context.Background(), getES(t, c, "orders")))
		// The oldest restores its target on the way out; the younger one then manages the Service.
		require.Eventually(t, func() bool { return replicas(t, c, "orders") == 2 }, waitFor, tick)
		setTargetEndpoints(t, c, "orders", true)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			es := getES(ct, c, "orders-copy")
			assert.Equal(ct, v1alpha1.ModeServe, es.Status.Mode)
			assert.True(ct, meta.IsStatusConditionTrue(es.Status.Conditions, v1alpha1.ConditionReady))
		}, waitFor, tick)
		assert.Empty(t, proxySlices(t, c, "orders"))
	})
}

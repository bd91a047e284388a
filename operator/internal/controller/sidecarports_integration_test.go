//go:build integration

package controller

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/pkg/portrange"
)

// TestIntegrationSidecarPorts: every Service port gets its own sidecar port, unique across
// ElastiServices; the allocation survives an operator restart (a new allocator loads it from the
// statuses), follows a Service that gains or loses ports while at zero, is freed on delete, and an
// exhausted range is a condition and an Event, never a clash.
func TestIntegrationSidecarPorts(t *testing.T) {
	env := testenv.Start(t, nil)
	c := env.Client
	mustCreate(t, c, namespaces()...)
	startSidecar(t, c, "gw-1", "10.0.0.1", true)
	svcs := []string{"a", "b", "c"}
	for _, n := range svcs {
		mustCreate(t, c, workload(n, 0)...)
	}
	small := portrange.Range{First: 21000, Last: 21005} // 6 ports: three 2-port Services fill it
	op := newOperatorWithPorts(t, env, "", nil, small)
	stop := op.start(t)
	for _, n := range svcs {
		mustCreate(t, c, elastiService(n, false))
	}

	allocated := func(ct require.TestingT, name string) map[string]int32 {
		out := map[string]int32{}
		for _, p := range getES(ct, c, name).Status.SidecarPorts {
			out[p.Name] = p.SidecarPort
		}
		return out
	}
	var before map[string]map[string]int32
	t.Run("unique, and in the proxy slices", func(t *testing.T) {
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			seen := map[int32]string{}
			before = map[string]map[string]int32{}
			for _, n := range svcs {
				got := allocated(ct, n)
				if !assert.Len(ct, got, 2, n) {
					return
				}
				before[n] = got
				for name, p := range got {
					assert.True(ct, small.Contains(p), "%s/%s: %d outside %s", n, name, p, small)
					assert.NotContains(ct, seen, p, "port %d given to %s and %s/%s", p, seen[p], n, name)
					seen[p] = n + "/" + name
				}
				slices := proxySlices(ct, c, n)
				if assert.Len(ct, slices, 1, n) {
					ports := map[string]int32{}
					for _, sp := range slices[0].Ports {
						ports[*sp.Name] = *sp.Port
					}
					assert.Equal(ct, got, ports, "%s: the slice maps each Service port to its sidecar port", n)
				}
			}
		}, waitFor, tick)
	})

	top := t
	t.Run("an operator restart keeps every port", func(t *testing.T) {
		stop()
		op2 := newOperatorWithPorts(top, env, "", nil, small)
		op2.start(top)
		mustCreate(t, c, workload("d", 0)...)
		mustCreate(t, c, elastiService("d", false))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			es := getES(ct, c, "d")
			cond := meta.FindStatusCondition(es.Status.Conditions, v1alpha1.ConditionReady)
			if assert.NotNil(ct, cond) {
				assert.Equal(ct, ReasonSidecarPortsExhausted, cond.Reason, "a full range is reported, not shared")
				assert.Contains(ct, cond.Message, "21000-21005")
			}
			assert.Empty(ct, es.Status.SidecarPorts)
		}, waitFor, tick)
		for _, n := range svcs {
			assert.Equal(t, before[n], allocated(t, n), "%s keeps its ports across the restart", n)
		}
		requireEvent(t, c, "d", ReasonSidecarPortsExhausted)
		op = op2
	})

	t.Run("a Service that loses and gains a port while at zero", func(t *testing.T) {
		svc := &corev1.Service{}
		require.NoError(t, c.Get(context.Background(), client.ObjectKey{Namespace: shopNS, Name: "a"}, svc))
		svc.Spec.Ports = svc.Spec.Ports[:1] // drop grpc: its sidecar port is freed, and d gets one
		require.NoError(t, c.Update(context.Background(), svc))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assert.Equal(ct, map[string]int32{"http": before["a"]["http"]}, allocated(ct, "a"))
			assert.Len(ct, allocated(ct, "d"), 1, "d has one of its two ports now")
		}, waitFor, tick)

		require.NoError(t, c.Get(context.Background(), client.ObjectKey{Namespace: shopNS, Name: "a"}, svc))
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "admin", Port: 9901, TargetPort: intstr.FromInt32(9901)})
		require.NoError(t, c.Update(context.Background(), svc))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			es := getES(ct, c, "a")
			cond := meta.FindStatusCondition(es.Status.Conditions, v1alpha1.ConditionReady)
			if assert.NotNil(ct, cond) {
				assert.Equal(ct, ReasonSidecarPortsExhausted, cond.Reason, "the new port finds the range full")
			}
			ps := proxySlices(ct, c, "a")
			if assert.Len(ct, ps, 1) {
				assert.Len(ct, ps[0].Ports, 1, "a port without a sidecar port is left out of the slice")
			}
		}, waitFor, tick)
	})

	t.Run("delete frees the ports", func(t *testing.T) {
		// b's target comes back and is ready: its deletion does not wait (see the controller test).
		setTargetEndpoints(t, c, "b", true)
		require.NoError(t, c.Delete(context.Background(), getES(t, c, "b")))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assert.Len(ct, allocated(ct, "d"), 2, "d got b's freed ports")
			assert.Len(ct, allocated(ct, "a"), 2, "and a got one for its new port")
			seen := map[int32]bool{}
			for _, n := range []string{"a", "c", "d"} {
				for _, p := range allocated(ct, n) {
					assert.False(ct, seen[p], "port %d given twice", p)
					seen[p] = true
				}
			}
			for _, n := range []string{"a", "d"} {
				es := getES(ct, c, n)
				assert.NotEqual(ct, ReasonSidecarPortsExhausted, meta.FindStatusCondition(es.Status.Conditions, v1alpha1.ConditionReady).Reason, n)
			}
		}, waitFor, tick)
	})
}

func requireEvent(t *testing.T, c client.Client, esName, reason string) {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		list := &eventsv1.EventList{}
		if !assert.NoError(ct, c.List(context.Background(), list, client.InNamespace(shopNS))) {
			return
		}
		for _, e := range list.Items {
			if e.Regarding.Name == esName && e.Reason == reason {
				return
			}
		}
		assert.Fail(ct, fmt.Sprintf("no Event %s on %s", reason, esName))
	}, waitFor, tick)
}

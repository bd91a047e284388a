package sidecar

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/internal/freeport"
	"github.com/elasti-dev/elasti/sidecar/internal/registry"
	"github.com/elasti-dev/elasti/sidecar/stuboperator"
)

// freePort returns a loopback port nothing listens on now.
func freePort(t testing.TB) int32 {
	t.Helper()
	return int32(freeport.Loopback(t))
}

// named answers with its name, the Host it got and the header it was asked about.
func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Got-Host", r.Host)
		w.Header().Set("X-Got-Decorator", r.Header.Get("X-Envoy-Decorator-Operation"))
		fmt.Fprint(w, name)
	})
}

// getPort sends a GET to a sidecar port with Host and extra headers.
func getPort(t *testing.T, port int32, host string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(int(port))+"/", nil)
	require.NoError(t, err)
	req.Host = host
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// TestSidecarPortNamesTheService: two namespaces with a Service of the same name, each with its
// own sidecar port. Whatever the Host (an external name, the other's name) or a header naming the
// other Service, a request reaches the Service its port was allocated to, with Host and headers
// forwarded unchanged.
func TestSidecarPortNamesTheService(t *testing.T) {
	shopTarget, otherTarget := newTarget(t, named("shop")), newTarget(t, named("other"))
	require.NoError(t, shopTarget.start())
	require.NoError(t, otherTarget.start())
	shop, other := service(shopTarget, true), service(otherTarget, true)
	other.Namespace = "other"
	other.Name = "orders"
	other.ClusterIPs = []string{"10.96.0.20"}
	shopPort, otherPort := freePort(t), freePort(t)
	shop.Ports[0].SidecarPort, other.Ports[0].SidecarPort = shopPort, otherPort
	op := stuboperator.Start(testToken, shop, other)
	defer op.Close()
	s := startSidecar(t, testConfig(t, op))
	require.Eventually(t, func() bool { return len(s.SidecarPorts()) == 2 }, 5*time.Second, 5*time.Millisecond)

	for _, tc := range []struct {
		port int32
		want string
	}{{shopPort, "shop"}, {otherPort, "other"}} {
		for _, host := range []string{"shop.example.test", "orders", "orders.other.svc.cluster.local", "orders.shop", "10.96.0.20"} {
			hdr := http.Header{"X-Envoy-Decorator-Operation": {"orders.other.svc.cluster.local:80/*"}}
			resp, body := getPort(t, tc.port, host, hdr)
			require.Equal(t, http.StatusOK, resp.StatusCode, "port %d host %s: %s", tc.port, host, body)
			assert.Equal(t, tc.want, body, "port %d host %s", tc.port, host)
			assert.Equal(t, host, resp.Header.Get("X-Got-Host"), "Host is forwarded unchanged")
			assert.Equal(t, "orders.other.svc.cluster.local:80/*", resp.Header.Get("X-Got-Decorator"), "headers are forwarded unchanged")
		}
	}

	// The direct listener still goes by Host, and refuses the ambiguous short name.
	resp, _, err := get(context.Background(), s, "orders")
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestSidecarPortsFollowTheStream: a port opens when its service arrives, moves when the
// allocation changes, and closes when the service leaves; a service is acknowledged only once
// every sidecar port of it is open (a port another process holds keeps it out of the ack until
// that port is free, retried on heartbeats).
func TestSidecarPortsFollowTheStream(t *testing.T) {
	tg := newTarget(t, named("shop"))
	require.NoError(t, tg.start())
	svc := service(tg, true)
	first := freePort(t)
	svc.Ports[0].SidecarPort = first
	op := stuboperator.Start(testToken, svc)
	op.Heartbeat = 20 * time.Millisecond
	defer op.Close()
	s := startSidecar(t, testConfig(t, op))
	require.Eventually(t, func() bool { return slices.Equal(s.SidecarPorts(), []int32{first}) }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return lastAckHas(op, "shop/orders") }, 5*time.Second, 5*time.Millisecond)

	// The allocation moves to a port another process holds: not acknowledged, old port closed.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	busyPort := int32(busy.Addr().(*net.TCPAddr).Port)
	svc.Ports[0].SidecarPort = busyPort
	op.SetService(svc)
	require.Eventually(t, func() bool { return len(s.SidecarPorts()) == 0 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return !lastAckHas(op, "shop/orders") }, 5*time.Second, 5*time.Millisecond)
	_, err = net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(int(first)), time.Second)
	require.Error(t, err, "the old sidecar port is closed")

	// The port is freed: the next heartbeat opens it and acknowledges the service.
	require.NoError(t, busy.Close())
	require.Eventually(t, func() bool { return slices.Equal(s.SidecarPorts(), []int32{busyPort}) }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return lastAckHas(op, "shop/orders") }, 5*time.Second, 5*time.Millisecond)
	resp, body := getPort(t, busyPort, "anything.example", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "shop", body)

	// The service leaves the stream (its ElastiService was deleted with a pod ready): its port
	// stays open for registry.LingerFor, and a new connection to it is still forwarded to the last
	// ready endpoint (kube-proxy or an ingress controller may still send there), then it closes.
	op.RemoveService("shop/orders")
	left := time.Now()
	require.Eventually(t, func() bool { return !lastAckHas(op, "shop/orders") }, 5*time.Second, 5*time.Millisecond)
	resp, body = getPort(t, busyPort, "anything.example", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a new connection right after the service left")
	assert.Equal(t, "shop", body)
	require.Eventually(t, func() bool { return len(s.SidecarPorts()) == 0 }, registry.LingerFor+5*time.Second, 5*time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(left), registry.LingerFor, "the port lingered")
}

func lastAckHas(op *stuboperator.Operator, key string) bool {
	acks := op.Acks()
	return len(acks) > 0 && slices.Contains(acks[len(acks)-1].Services, key)
}

// TestShutdownKeepsAcceptingForTheDelay: after SIGTERM the sidecar fails /readyz at once but
// keeps answering on its sidecar ports for --shutdown-delay, so proxies that still list it
// (the EndpointSlices are being updated) are not refused.
func TestShutdownKeepsAcceptingForTheDelay(t *testing.T) {
	tg := newTarget(t, named("shop"))
	require.NoError(t, tg.start())
	svc := service(tg, true)
	port := freePort(t)
	svc.Ports[0].SidecarPort = port
	op := stuboperator.Start(testToken, svc)
	defer op.Close()
	cfg := testConfig(t, op)
	cfg.ShutdownDelay = 1500 * time.Millisecond
	s, err := New(cfg, discard())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, s.Start(ctx))
	require.Eventually(t, func() bool { return len(s.SidecarPorts()) == 1 }, 5*time.Second, 5*time.Millisecond)

	stopped := time.Now()
	cancel()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + s.AdminAddr().String() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	}, time.Second, 5*time.Millisecond, "/readyz fails at once")
	for time.Since(stopped) < 500*time.Millisecond {
		resp, body := getPort(t, port, "shop.example.test", nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, "still answering during the delay")
		require.Equal(t, "shop", body)
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, s.Wait())
	_, err = net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(int(port)), time.Second)
	require.Error(t, err, "closed after the drain")
}

package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/internal/hold"
	"github.com/elasti-dev/elasti/sidecar/internal/metrics"
	"github.com/elasti-dev/elasti/sidecar/internal/registry"
)

type nopReporter struct{ held, activity atomic.Int32 }

func (r *nopReporter) Held(string, string)     { r.held.Add(1) }
func (r *nopReporter) Activity(string, string) { r.activity.Add(1) }

type nopProber struct{}

func (nopProber) Ensure(context.Context, string) {}

func newHandler(t testing.TB, endpoints ...stream.Endpoint) (*Handler, *registry.Registry) {
	t.Helper()
	q := hold.New(100, 100)
	reg := registry.New("cluster.local", func(keys []string) {
		for _, k := range keys {
			q.Wake(k)
		}
	})
	_, err := reg.Apply(stream.Message{Type: stream.TypeSnapshot, Version: 1, Services: []stream.Service{{
		Namespace: "shop", Name: "orders", Mode: stream.ModeProxy,
		Ports: []stream.Port{{Name: "http", Port: 80}}, Endpoints: endpoints,
	}}})
	require.NoError(t, err)
	h := New(context.Background(), Options{Registry: reg, Queue: q, Reporter: &nopReporter{}, Prober: nopProber{},
		Metrics: metrics.New(), Log: logr.Discard(), HoldTimeout: time.Minute, RetryAfter: time.Second,
		DialTimeout: time.Second, ConnectRetries: 2, ConnectRetryBackoff: time.Millisecond, MaxIdleConnsPerHost: 64})
	return h, reg
}

func ep(pod string, port int, ready bool) stream.Endpoint {
	return stream.Endpoint{Pod: pod, IP: "127.0.0.1", Ready: ready, Ports: map[string]int32{"http": int32(port)}}
}

func TestPickBalancesOverServingEndpoints(t *testing.T) {
	h, reg := newHandler(t, ep("a", 1001, true), ep("b", 1002, false), ep("c", 1003, true), ep("d", 1004, false))
	svc, _ := reg.Get("shop/orders")
	seen := map[string]int{}
	for range 6 {
		e, ok := h.pick(svc, 0, nil)
		require.True(t, ok)
		seen[e.addr]++
	}
	assert.Equal(t, map[string]int{"127.0.0.1:1001": 3, "127.0.0.1:1003": 3}, seen)

	reg.MarkAnswering("shop/orders", "127.0.0.1") // all four share the IP in this test
	seen = map[string]int{}
	for range 8 {
		e, _ := h.pick(svc, 0, map[string]bool{"127.0.0.1:1001": true})
		seen[e.addr]++
	}
	assert.Len(t, seen, 3, "answering endpoints join, skipped ones leave")
	assert.Zero(t, seen["127.0.0.1:1001"])
}

func TestIsDialError(t *testing.T) {
	assert.True(t, isDialError(&net.OpError{Op: "dial", Err: errors.New("refused")}))
	assert.False(t, isDialError(&net.OpError{Op: "read", Err: errors.New("reset")}))
	assert.False(t, isDialError(io.ErrUnexpectedEOF))
}

// TestConsumedBodyIsNeverReplayed: an upstream that reads part of the body and drops the
// connection gets exactly one attempt; the client gets 502.
func TestConsumedBodyIsNeverReplayed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			buf := make([]byte, 4096)
			_, _ = io.ReadAtLeast(c, buf, 1024)
			c.Close()
		}
	}()
	h, _ := newHandler(t, ep("a", ln.Addr().(*net.TCPAddr).Port, true))
	srv := httptest.NewServer(h)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", io.LimitReader(strings.NewReader(strings.Repeat("x", 1<<20)), 1<<20))
	req.Host = "orders.shop"
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	assert.Equal(t, int32(1), accepted.Load())
}

// closedPort returns a loopback port nothing listens on (connections are refused).
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// TestRefusedEverywhereHoldsAgain: the stream still lists a pod that was just scaled away (its
// port refuses). The request, whose body was not touched, is held again and forwarded to the pod
// that comes up next, instead of failing with 502.
func TestRefusedEverywhereHoldsAgain(t *testing.T) {
	h, reg := newHandler(t, ep("gone", closedPort(t), true))
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "got "+string(b))
	}))
	defer live.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	done := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader("order-1"))
		req.Host = "orders.shop"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	select {
	case resp := <-done:
		t.Fatalf("answered %d before any pod could serve", resp.StatusCode)
	case <-time.After(300 * time.Millisecond):
	}
	livePort := live.Listener.Addr().(*net.TCPAddr).Port
	_, err := reg.Apply(stream.Message{Type: stream.TypeUpdate, Version: 2, Services: []stream.Service{{
		Namespace: "shop", Name: "orders", Mode: stream.ModeProxy,
		Ports: []stream.Port{{Name: "http", Port: 80}}, Endpoints: []stream.Endpoint{ep("new", livePort, true)},
	}}})
	require.NoError(t, err)
	resp := <-done
	require.NotNil(t, resp)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "got order-1", string(b))
}

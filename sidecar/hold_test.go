package sidecar

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/stuboperator"
)

// TestHeldRequestsAllSucceedInOrder: N connections each pipeline several requests while the
// target is down; the operator is told once (de-duplicated), the target comes up, and every
// request succeeds, answered in order on its connection, with Server-Timing.
func TestHeldRequestsAllSucceedInOrder(t *testing.T) {
	const conns, perConn = 40, 3
	tg := newTarget(t, echo())
	op := stuboperator.Start(testToken, service(tg, false))
	defer op.Close()
	op.RequestCountDelay.Store(int64(100 * time.Millisecond))
	cfg := testConfig(t, op)
	cfg.ActivityInterval = time.Hour // only held reports count here
	s := startSidecar(t, cfg)

	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := range conns {
		wg.Go(func() { errs <- pipeline(s.ProxyAddr().String(), c, perConn) })
	}
	// Every request is held before the target starts.
	require.Eventually(t, func() bool { return s.queue.Waiting("shop/orders") == conns }, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return len(op.RequestCounts()) >= 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, tg.start())
	op.SetService(service(tg, true)) // the operator's push
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 1, op.MaxInFlight(), "RequestCount must be de-duplicated while one is in flight")
	// The first held request is reported at once; the others wait while it is in flight and the
	// next report is not due (--report-resend) before the target serves.
	require.Len(t, op.RequestCounts(), 1)
	rc := op.RequestCounts()[0]
	assert.Equal(t, "shop/orders", rc.Key())
	assert.True(t, rc.Count >= 1 && rc.Count <= conns, "count %d", rc.Count)
	assert.Equal(t, 0, s.queue.Total())
}

// pipeline writes n requests on one connection at once and checks the answers come back in
// order, all 200, the first one with Server-Timing.
func pipeline(addr string, c, n int) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "GET /r HTTP/1.1\r\nHost: orders.shop.svc.cluster.local\r\nX-Seq: %d-%d\r\n\r\n", c, i)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	for i := range n {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return fmt.Errorf("conn %d response %d: %w", c, i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Seq") != fmt.Sprintf("%d-%d", c, i) {
			return fmt.Errorf("conn %d response %d: status %d seq %q", c, i, resp.StatusCode, resp.Header.Get("X-Seq"))
		}
		if i == 0 && !strings.HasPrefix(resp.Header.Get("Server-Timing"), "elasti-hold;dur=") {
			return fmt.Errorf("conn %d: held response without Server-Timing: %v", c, resp.Header)
		}
	}
	return nil
}

func TestClientCancellationFreesSlot(t *testing.T) {
	tg := newTarget(t, echo())
	op := stuboperator.Start(testToken, service(tg, false))
	defer op.Close()
	cfg := testConfig(t, op)
	cfg.MaxHeldPerService = 1
	s := startSidecar(t, cfg)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, _, err := get(ctx, s, "orders.shop"); done <- err }()
	require.Eventually(t, func() bool { return s.queue.Waiting("shop/orders") == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.Error(t, <-done)
	require.Eventually(t, func() bool { return s.queue.Waiting("shop/orders") == 0 }, 5*time.Second, time.Millisecond)

	// The freed slot takes the next request, which succeeds once the target is up.
	go func() {
		resp, _, err := get(context.Background(), s, "orders.shop")
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		done <- err
	}()
	require.Eventually(t, func() bool { return s.queue.Waiting("shop/orders") == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, tg.start())
	op.SetService(service(tg, true))
	require.NoError(t, <-done)
}

func TestOverflowAndTimeout(t *testing.T) {
	tg := newTarget(t, echo())
	op := stuboperator.Start(testToken, service(tg, false))
	defer op.Close()
	cfg := testConfig(t, op)
	cfg.MaxHeldPerService = 2
	s := startSidecar(t, cfg)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		go func() { _, _, _ = get(ctx, s, "orders.shop") }()
	}
	require.Eventually(t, func() bool { return s.queue.Waiting("shop/orders") == 2 }, 5*time.Second, time.Millisecond)
	resp, body, err := get(context.Background(), s, "orders.shop")
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assertJSONError(t, resp, body, "too many requests held for this service")
	cancel()

	// A per-service hold timeout from the stream: 504 saying what was waited for.
	svc := service(tg, false)
	svc.HoldTimeoutSeconds = 1
	op.SetService(svc)
	require.Eventually(t, func() bool { got, _ := s.reg.Get("shop/orders"); return got.HoldTimeoutSeconds == 1 }, 5*time.Second, time.Millisecond)
	resp, body, err = get(context.Background(), s, "orders.shop")
	require.NoError(t, err)
	assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
	assertJSONError(t, resp, body, "waiting for a pod of shop/orders that can serve (1 endpoints, 0 ready); the operator was asked to scale it up")
}

func assertJSONError(t *testing.T, resp *http.Response, body, want string) {
	t.Helper()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var e struct {
		Error string `json:"error"`
		Host  string `json:"host"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	assert.Contains(t, e.Error, want)
	assert.NotEmpty(t, e.Host)
}

func TestUnknownHost(t *testing.T) {
	tg := newTarget(t, echo())
	op := stuboperator.Start(testToken, service(tg, true))
	defer op.Close()
	s := startSidecar(t, testConfig(t, op))
	for _, host := range []string{"example.com", "orders.other", "10.96.0.11:80", "bad host"} {
		t.Run(host, func(t *testing.T) {
			resp, body, err := get(context.Background(), s, host)
			require.NoError(t, err)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode)
			if host != "bad host" { // the Go client refuses to send an invalid Host
				assertJSONError(t, resp, body, "no ElastiService matches this host")
				assert.NotContains(t, body, "invalid IP")
			}
		})
	}
}

// TestHostForms: on the direct listener, every cluster form and a ClusterIP reach the service.
func TestHostForms(t *testing.T) {
	tg := newTarget(t, echo())
	require.NoError(t, tg.start())
	op := stuboperator.Start(testToken, service(tg, true))
	defer op.Close()
	s := startSidecar(t, testConfig(t, op))
	for _, host := range []string{"orders", "orders:80", "orders.shop", "orders.shop.svc", "orders.shop.svc.cluster.local:80", "10.96.0.10", "[fd00::10]:80"} {
		t.Run(host, func(t *testing.T) {
			resp, _, err := get(context.Background(), s, host)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, host, resp.Header.Get("X-Got-Host"), "Host is kept")
			assert.Equal(t, "127.0.0.1", resp.Header.Get("X-Got-XFF"))
			assert.Equal(t, "http", resp.Header.Get("X-Got-Proto"))
		})
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.ProxyAddr().String()+"/", nil)
	req.Host = "orders.shop"
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "https", resp.Header.Get("X-Got-Proto"), "a gateway's X-Forwarded-Proto is kept")
	assert.Equal(t, "203.0.113.7, 127.0.0.1", resp.Header.Get("X-Got-XFF"))
}

// TestReporting: proxy mode reports activity even when forwarded at once; serve mode does not.
func TestReporting(t *testing.T) {
	tg := newTarget(t, echo())
	require.NoError(t, tg.start())
	op := stuboperator.Start(testToken, service(tg, true))
	defer op.Close()
	cfg := testConfig(t, op)
	cfg.ActivityInterval = time.Hour
	s := startSidecar(t, cfg)
	for range 5 {
		resp, _, err := get(context.Background(), s, "orders.shop")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Empty(t, resp.Header.Get("Server-Timing"), "not held")
	}
	require.Eventually(t, func() bool { return len(op.RequestCounts()) == 1 }, 5*time.Second, time.Millisecond)

	svc := service(tg, true)
	svc.Name = "cart"
	svc.Mode = stream.ModeServe
	svc.ClusterIPs = nil
	op.SetService(svc)
	require.Eventually(t, func() bool { _, ok := s.reg.Get("shop/cart"); return ok }, 5*time.Second, time.Millisecond)
	for range 5 {
		resp, _, err := get(context.Background(), s, "cart.shop")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "serve mode is forwarded, never rejected")
	}
	assert.Len(t, op.RequestCounts(), 1, "serve mode does not report")
}

// TestAbandonedHeldRequestFreesSlot: a client that goes away while its request is held frees the
// slot at once, with or without a body (up to the size the sidecar receives before holding), and
// a held body still reaches the pod whole.
func TestAbandonedHeldRequestFreesSlot(t *testing.T) {
	tg := newTarget(t, echo())
	op := stuboperator.Start(testToken, service(tg, false))
	defer op.Close()
	s := startSidecar(t, testConfig(t, op))

	tests := []struct {
		name string
		head string
		body int
	}{
		{name: "bodiless GET", head: "GET / HTTP/1.1\r\nHost: orders.shop\r\n\r\n"},
		{name: "POST with a small body", head: "POST / HTTP/1.1\r\nHost: orders.shop\r\nContent-Length: 1024\r\n\r\n", body: 1024},
		{name: "POST with a 16 KiB body", head: "POST / HTTP/1.1\r\nHost: orders.shop\r\nContent-Length: 16384\r\n\r\n", body: 16 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", s.ProxyAddr().String())
			require.NoError(t, err)
			_, err = io.WriteString(c, tt.head+strings.Repeat("x", tt.body))
			require.NoError(t, err)
			require.Eventually(t, func() bool { return s.queue.Waiting("shop/orders") == 1 }, 5*time.Second, time.Millisecond)
			require.NoError(t, c.Close())
			require.Eventually(t, func() bool { return s.queue.Waiting("shop/orders") == 0 }, 5*time.Second, time.Millisecond,
				"the slot of a request whose client went away is still taken")
		})
	}

	done := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.ProxyAddr().String()+"/", strings.NewReader(strings.Repeat("x", 1000)))
		req.Host = "orders.shop"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- string(b)
	}()
	require.Eventually(t, func() bool { return s.queue.Waiting("shop/orders") == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, tg.start())
	op.SetService(service(tg, true))
	assert.Equal(t, "POST orders.shop 1000", <-done, "the received body is forwarded whole")
}

package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/internal/freeport"
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
		e, ok := h.wait.pick(svc, portRef{}, nil)
		require.True(t, ok)
		seen[e.addr]++
	}
	assert.Equal(t, map[string]int{"127.0.0.1:1001": 3, "127.0.0.1:1003": 3}, seen)

	reg.MarkAnswering("shop/orders", "127.0.0.1") // all four share the IP in this test
	seen = map[string]int{}
	for range 8 {
		e, _ := h.wait.pick(svc, portRef{}, map[string]bool{"127.0.0.1:1001": true})
		seen[e.addr]++
	}
	assert.Len(t, seen, 3, "answering endpoints join, skipped ones leave")
	assert.Zero(t, seen["127.0.0.1:1001"])
}

func TestForgetDropsTheRoundRobinPosition(t *testing.T) {
	h, reg := newHandler(t, ep("a", 1001, true), ep("c", 1003, true))
	svc, _ := reg.Get("shop/orders")
	first, _ := h.wait.pick(svc, portRef{}, nil)
	second, _ := h.wait.pick(svc, portRef{}, nil)
	require.NotEqual(t, first.addr, second.addr)
	count := func() int {
		n := 0
		h.wait.balancer.next.Range(func(any, any) bool { n++; return true })
		return n
	}
	require.Equal(t, 1, count())
	h.Forget("shop/orders")
	assert.Zero(t, count(), "nothing kept for a service that left the stream")
	again, _ := h.wait.pick(svc, portRef{}, nil)
	assert.Equal(t, first.addr, again.addr, "a service that comes back starts over")
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
	return freeport.Loopback(t)
}

// TestRefusedEverywhereHoldsAgain: the stream still lists a pod that was just scaled away (its
// port refuses). The request, whose body was not touched, is held again and forwarded to the pod
// that comes up next, instead of failing with 502. A GET takes the lean path (lean.go), a POST
// the ReverseProxy.
func TestRefusedEverywhereHoldsAgain(t *testing.T) {
	for _, c := range []struct{ method, body string }{{http.MethodPost, "order-1"}, {http.MethodGet, ""}} {
		t.Run(c.method, func(t *testing.T) { refusedEverywhereHoldsAgain(t, c.method, c.body) })
	}
}

func refusedEverywhereHoldsAgain(t *testing.T, method, body string) {
	h, reg := newHandler(t, ep("gone", closedPort(t), true))
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "got "+r.Method+" "+string(b))
	}))
	defer live.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	done := make(chan *http.Response, 1)
	go func() {
		var rb io.Reader
		if body != "" {
			rb = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, srv.URL+"/", rb)
		req.Host = "orders.shop"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	// Held like any held request: in the queue (which is what the operator client and the prober
	// look at), and reported; not answered, since no pod can serve yet.
	require.Eventually(t, func() bool {
		return h.o.Queue.Waiting("shop/orders") == 1 && h.o.Reporter.(*nopReporter).held.Load() > 0
	}, 10*time.Second, 5*time.Millisecond, "the refused request was never held again")
	select {
	case resp := <-done:
		t.Fatalf("answered %d before any pod could serve", resp.StatusCode)
	default:
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
	assert.Equal(t, "got "+method+" "+body, string(b))
}

// TestAnswerBeforeBodyEndIsFullDuplex: a pod that starts its response while the last part of the
// request body is still on its way (an echo, an upload streaming its result) gets the whole body,
// and the client the whole response. Go's HTTP/1 server, unless told the handler is full duplex,
// discards the unread rest of a request body (when under 256 KiB) as soon as the response header
// is written, which cut the forwarded request short and the response with it.
func TestAnswerBeforeBodyEndIsFullDuplex(t *testing.T) {
	const size, tail = 1 << 20, 100 << 10
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		head := make([]byte, size-tail)
		if _, err := io.ReadFull(r.Body, head); err != nil {
			t.Errorf("app: reading the head of the body: %v", err)
			return
		}
		_, _ = w.Write(head)
		_ = http.NewResponseController(w).Flush() // the response starts before the body ended
		n, err := io.Copy(w, r.Body)
		if err != nil || n != tail {
			t.Errorf("app: got %d of the last %d bytes: %v", n, tail, err)
		}
	}))
	defer app.Close()
	h, _ := newHandler(t, ep("a", app.Listener.Addr().(*net.TCPAddr).Port, true))
	sidecar := httptest.NewServer(h)
	defer sidecar.Close()

	// The client sends the last part of the body only once the response has begun, as a
	// client streaming both ways would.
	body := make([]byte, size)
	_, _ = rand.Read(body)
	pr, pw := io.Pipe()
	started := make(chan struct{})
	var tailAfterHeaders atomic.Bool
	go func() {
		_, _ = pw.Write(body[:size-tail])
		select {
		case <-started:
			tailAfterHeaders.Store(true)
		case <-time.After(3 * time.Second): // no response header: send it anyway, the test fails
		}
		_, _ = pw.Write(body[size-tail:])
		_ = pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, sidecar.URL+"/echo", pr)
	req.ContentLength = size
	req.Host = "orders.shop"
	resp, err := http.DefaultClient.Do(req)
	close(started)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.True(t, tailAfterHeaders.Load(), "the response began only after the whole body was sent")
	assert.True(t, bytes.Equal(body, got), "echoed %d of %d bytes", len(got), len(body))
}

// TestHeldEchoIsFullDuplex: a held 1 MiB upload to a pod that answers while the body is still
// arriving (an echo), through a gateway in front of the sidecar, comes back whole. Without full
// duplex on the sidecar's HTTP/1 server the response was cut off ("unexpected EOF").
func TestHeldEchoIsFullDuplex(t *testing.T) {
	for i := 0; i < 5; i++ {
		h, reg := newHandler(t)
		// A plain Go echo handler, as most apps would write it (no full duplex of its own).
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(w, r.Body)
		}))
		sidecar := httptest.NewServer(h)
		target, _ := url.Parse(sidecar.URL)
		gw := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = "orders.shop"
		}})
		body := make([]byte, 1<<20)
		_, _ = rand.Read(body)
		go func() {
			time.Sleep(50 * time.Millisecond)
			_, _ = reg.Apply(stream.Message{Type: stream.TypeUpdate, Version: 2, Services: []stream.Service{{
				Namespace: "shop", Name: "orders", Mode: stream.ModeProxy, Ports: []stream.Port{{Name: "http", Port: 80}},
				Endpoints: []stream.Endpoint{ep("new", app.Listener.Addr().(*net.TCPAddr).Port, true)},
			}}})
		}()
		client := &http.Client{Transport: &http.Transport{}}
		resp, err := client.Post(gw.URL+"/echo", "application/octet-stream", bytes.NewReader(body))
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err, "run %d", i)
		require.True(t, bytes.Equal(body, got), "run %d: echoed %d of %d bytes", i, len(got), len(body))
		client.CloseIdleConnections()
		gw.Close()
		sidecar.Close()
		app.Close()
	}
}

// TestProbeClearsTheSkipOfARefusedEndpoint: a pod that refused a connection (it was restarting)
// is skipped by the re-held request, but as soon as the sidecar's probe finds it answering the
// request goes to it, without waiting for the skip to expire (an hour here, a second in
// production).
func TestProbeClearsTheSkipOfARefusedEndpoint(t *testing.T) {
	port := closedPort(t)
	h, reg := newHandler(t, ep("restarting", port, true))
	h.wait.reholdForget = time.Hour
	srv := httptest.NewServer(h)
	defer srv.Close()

	done := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		req.Host = "orders.shop"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	require.Eventually(t, func() bool {
		return h.o.Queue.Waiting("shop/orders") == 1 && reg.Refused("shop/orders", "127.0.0.1")
	}, 10*time.Second, 5*time.Millisecond, "the refused request was never held again")

	// The pod answers again on the same address; the probe finds it.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	require.NoError(t, err)
	app := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "back")
	})}}
	app.Start()
	defer app.Close()
	reg.MarkAnswering("shop/orders", "127.0.0.1")

	select {
	case resp := <-done:
		require.NotNil(t, resp)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "back", string(b))
	case <-time.After(10 * time.Second):
		t.Fatal("the request still skips the endpoint the probe found answering")
	}
	assert.False(t, reg.Refused("shop/orders", "127.0.0.1"), "the probe's success clears the refusal")
}

// TestDepartedServiceIsForwarded: a request on a service's sidecar port that arrives after the
// service left the stream (its ElastiService was deleted once a pod was ready; the port is
// closing) is forwarded to the last known ready endpoint, and its connection ended; with no ready
// endpoint known it is refused as gone.
func TestDepartedServiceIsForwarded(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "app "+r.Host)
	}))
	defer app.Close()
	port, err := strconv.Atoi(app.URL[strings.LastIndex(app.URL, ":")+1:])
	require.NoError(t, err)
	h, reg := newHandler(t, ep("a", port, true))
	_, err = reg.Apply(stream.Message{Type: stream.TypeUpdate, Version: 2, Removed: []string{"shop/orders"}})
	require.NoError(t, err)

	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "http://shop.example.test/", nil)
	h.Bound("shop/orders", "http").ServeHTTP(w, req)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "app shop.example.test", w.Body.String(), "forwarded, Host unchanged")
	assert.Equal(t, "close", w.Header().Get("Connection"), "the next request goes straight to a pod")

	h2, reg2 := newHandler(t, ep("a", port, false))
	_, err = reg2.Apply(stream.Message{Type: stream.TypeUpdate, Version: 2, Removed: []string{"shop/orders"}})
	require.NoError(t, err)
	w = httptest.NewRecorder()
	h2.Bound("shop/orders", "http").ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://shop.example.test/", nil))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code, "no ready endpoint known: refused")
}

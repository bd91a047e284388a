package sidecar

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/stuboperator"
)

// readyTarget starts h as shop/orders's only, ready endpoint and returns a synced sidecar.
func readyTarget(t *testing.T, h http.Handler, mutate func(*stream.Service)) *Sidecar {
	t.Helper()
	tg := newTarget(t, h)
	require.NoError(t, tg.start())
	svc := service(tg, true)
	if mutate != nil {
		mutate(&svc)
	}
	op := stuboperator.Start(testToken, svc)
	t.Cleanup(op.Close)
	return startSidecar(t, testConfig(t, op))
}

func TestWebSocketEcho(t *testing.T) {
	upgrader := websocket.Upgrader{}
	s := readyTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if c.WriteMessage(mt, append([]byte("echo: "), msg...)) != nil {
				return
			}
		}
	}), nil)
	hdr := http.Header{"Host": {"orders.shop"}}
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+s.ProxyAddr().String()+"/ws", hdr)
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	for i := range 3 {
		require.NoError(t, c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "hello %d", i)))
		_, msg, err := c.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("echo: hello %d", i), string(msg))
	}
}

// TestSSEEventsArriveIncrementally: the target sends the next event only after the client has
// read the previous one, so a buffering proxy would deadlock (and the test time out).
func TestSSEEventsArriveIncrementally(t *testing.T) {
	next := make(chan struct{})
	s := readyTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range 3 {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			_ = rc.Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	}), nil)
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.ProxyAddr().String()+"/events", nil)
	req.Host = "orders.shop"
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("data: event %d\n", i), line)
		_, _ = r.ReadString('\n')
		next <- struct{}{}
	}
}

// TestKnownLengthResponseStreams: a response with a Content-Length whose pod sends the headers,
// then the body in parts, each only after the client has read the previous one. The headers and
// every part must reach the client without waiting for the rest (a proxy that buffers a known
// length until it is complete would deadlock, and the test time out).
func TestKnownLengthResponseStreams(t *testing.T) {
	next := make(chan struct{})
	parts := []string{"first part\n", "second part\n", "third part\n"}
	s := readyTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(strings.Join(parts, ""))))
		rc := http.NewResponseController(w)
		w.WriteHeader(http.StatusOK)
		_ = rc.Flush()
		for _, p := range parts {
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
			_, _ = io.WriteString(w, p)
			_ = rc.Flush()
		}
	}), nil)
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.ProxyAddr().String()+"/download", nil)
	req.Host = "orders.shop"
	resp, err := http.DefaultClient.Do(req) // returns once the headers have arrived
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, int64(len(strings.Join(parts, ""))), resp.ContentLength)
	r := bufio.NewReader(resp.Body)
	for _, p := range parts {
		next <- struct{}{}
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, p, line)
	}
}

func TestGRPCOverH2C(t *testing.T) {
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_NOT_SERVING)
	s := readyTarget(t, srv, func(svc *stream.Service) {
		svc.Ports = []stream.Port{{Name: "grpc", Port: 9090, AppProtocol: "grpc"}}
		svc.Endpoints[0].Ports = map[string]int32{"grpc": svc.Endpoints[0].Ports["http"]}
	})

	conn, err := grpc.NewClient("passthrough:///"+s.ProxyAddr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("orders.shop:9090"))
	require.NoError(t, err)
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Unary.
	got, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "orders"})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, got.Status)

	// Server streaming: each status change arrives as its own message.
	watch, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "orders"})
	require.NoError(t, err)
	first, err := watch.Recv()
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, first.Status)
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	second, err := watch.Recv()
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, second.Status)

	// A gRPC error status (trailers) passes through.
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
	require.ErrorContains(t, err, "NotFound")
}

// pattern is an endless deterministic byte stream.
type pattern struct{ n int64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte((p.n + int64(i)) % 251)
	}
	p.n += int64(len(b))
	return len(b), nil
}

// TestLargeBodiesInConstantMemory sends 100 MiB up and 100 MiB down through the sidecar and
// checks that the heap in use never grew by anything close to the body size.
func TestLargeBodiesInConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MiB")
	}
	const size = 100 << 20
	s := readyTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "%d %v", n, err)
			return
		}
		_, _ = io.Copy(w, io.LimitReader(&pattern{}, size))
	}), nil)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()

	req, _ := http.NewRequest(http.MethodPost, "http://"+s.ProxyAddr().String()+"/up", io.LimitReader(&pattern{}, size))
	req.Host = "orders.shop"
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, fmt.Sprintf("%d <nil>", size), strings.TrimSpace(string(body)))

	req, _ = http.NewRequest(http.MethodGet, "http://"+s.ProxyAddr().String()+"/down", nil)
	req.Host = "orders.shop"
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, int64(size), n)

	close(stop)
	<-sampled
	grew := int64(peak.Load()) - int64(before.HeapInuse)
	t.Logf("heap in use before %d MiB, peak %d MiB (grew %d KiB) while moving 2×%d MiB",
		before.HeapInuse>>20, peak.Load()>>20, grew>>10, size>>20)
	assert.Less(t, grew, int64(16<<20), "the heap grew by %d bytes: a body is being buffered", grew)
}

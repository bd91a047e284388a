package demoapp

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/websocket"

	"github.com/elasti-dev/elasti/internal/freeport"
)

func TestServerRoutes(t *testing.T) {
	srv := httptest.NewServer(NewServer(logr.Discard(), "hi"))
	defer srv.Close()

	cases := []struct {
		name, method, path, body string
		wantCode                 int
		wantBody                 string
	}{
		{name: "hello", method: http.MethodGet, path: "/", wantCode: 200, wantBody: "hi (pod "},
		{name: "unknown path", method: http.MethodGet, path: "/nope", wantCode: 404, wantBody: "404 page not found"},
		{name: "healthz", method: http.MethodGet, path: "/healthz", wantCode: 200, wantBody: "ok\n"},
		{name: "echo", method: http.MethodPost, path: "/echo", body: "ping pong", wantCode: 200, wantBody: "ping pong"},
		{name: "stream", method: http.MethodGet, path: "/stream?n=3&interval=0s", wantCode: 200, wantBody: "data: 1 "},
		{name: "stream bad n", method: http.MethodGet, path: "/stream?n=0", wantCode: 400, wantBody: "n must be an integer between 1 and 1000"},
		{name: "stream bad interval", method: http.MethodGet, path: "/stream?interval=x", wantCode: 400, wantBody: "interval must be a duration"},
		{name: "metrics", method: http.MethodGet, path: "/metrics", wantCode: 200, wantBody: "demo_requests_total"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tc.wantCode, resp.StatusCode)
			assert.Contains(t, string(body), tc.wantBody)
		})
	}
}

func TestStreamSendsEveryLine(t *testing.T) {
	srv := httptest.NewServer(NewServer(logr.Discard(), "hi"))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/stream?n=4&interval=1ms")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			lines = append(lines, l)
		}
	}
	require.Len(t, lines, 4)
	assert.True(t, strings.HasPrefix(lines[3], "data: 4 "))
}

func TestWebSocketEchoes(t *testing.T) {
	srv := httptest.NewServer(NewServer(logr.Discard(), "hi"))
	defer srv.Close()

	ws, err := websocket.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", "", srv.URL)
	require.NoError(t, err)
	defer ws.Close()
	for _, msg := range []string{"one", "two"} {
		require.NoError(t, websocket.Message.Send(ws, msg))
		var got string
		require.NoError(t, websocket.Message.Receive(ws, &got))
		assert.Equal(t, msg, got)
	}
}

func TestMetricsCountByRoute(t *testing.T) {
	s := NewServer(logr.Discard(), "hi")
	for _, p := range []string{"/", "/", "/healthz", "/unknown"} {
		s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	out := rec.Body.String()
	assert.Contains(t, out, `demo_requests_total{path="/"} 2`)
	assert.Contains(t, out, `demo_requests_total{path="/healthz"} 1`)
	assert.Contains(t, out, `demo_requests_total{path="other"} 1`)
}

func TestRunStopsDuringStartupDelay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Cancelled before the delay ends: Run returns without listening (the address is never bound).
	require.NoError(t, Run(ctx, logr.Discard(), Config{Addr: "256.0.0.1:1", StartupDelay: time.Hour}))
}

func TestRunReportsListenErrors(t *testing.T) {
	err := Run(context.Background(), logr.Discard(), Config{Addr: "256.0.0.1:1"})
	require.ErrorContains(t, err, "listening on 256.0.0.1:1")
}

// TestRunKeepsServingDuringShutdownDelay: after SIGTERM (ctx cancelled) the app still answers
// new connections for ShutdownDelay, then stops.
func TestRunKeepsServingDuringShutdownDelay(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeport.Loopback(t)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, logr.Discard(), Config{Addr: addr, ShutdownDelay: 400 * time.Millisecond, Message: "hi"})
	}()
	get := func() error {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	require.Eventually(t, func() bool { return get() == nil }, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, get(), "a new connection right after SIGTERM is still served")
	require.NoError(t, <-done)
	require.Error(t, get(), "after the delay the listener is closed")
}

package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/internal/registry"
)

func hostPort(t *testing.T, addr string) (string, int32) {
	h, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	n, _ := strconv.Atoi(p)
	return h, int32(n)
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ready":
			if r.Header.Get("X-Probe") != "yes" {
				w.WriteHeader(http.StatusTeapot)
			}
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	ip, port := hostPort(t, srv.Listener.Addr().String())
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	_, closedPort := hostPort(t, closed.Addr().String())
	closed.Close()

	tests := []struct {
		name    string
		probe   stream.Probe
		wantErr string
	}{
		{name: "http ok", probe: stream.Probe{Type: stream.ProbeHTTP, Port: port, Path: "/ready", Headers: map[string]string{"X-Probe": "yes"}}},
		{name: "http redirect counts as success", probe: stream.Probe{Type: stream.ProbeHTTP, Port: port, Path: "moved"}},
		{name: "http 418", probe: stream.Probe{Type: stream.ProbeHTTP, Port: port, Path: "/ready"}, wantErr: "status 418"},
		{name: "http 503", probe: stream.Probe{Type: stream.ProbeHTTP, Port: port, Path: "/x"}, wantErr: "status 503"},
		{name: "http refused", probe: stream.Probe{Type: stream.ProbeHTTP, Port: closedPort}, wantErr: "refused"},
		{name: "tcp ok", probe: stream.Probe{Type: stream.ProbeTCP, Port: port}},
		{name: "tcp refused", probe: stream.Probe{Type: stream.ProbeTCP, Port: closedPort}, wantErr: "refused"},
		{name: "exec", probe: stream.Probe{Type: "exec"}, wantErr: "not supported"},
	}
	p := NewProber()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Probe(context.Background(), ip, tt.probe)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestManagerMarksAnsweringEndpoint(t *testing.T) {
	var up atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	ip, port := hostPort(t, srv.Listener.Addr().String())

	woken := make(chan []string, 10)
	reg := registry.New("", func(keys []string) { woken <- keys })
	_, err := reg.Apply(stream.Message{Type: stream.TypeSnapshot, Services: []stream.Service{{
		Namespace: "shop", Name: "orders", Mode: stream.ModeProxy,
		Endpoints: []stream.Endpoint{{IP: ip, Ports: map[string]int32{"": port}}},
		Probe:     &stream.Probe{Type: stream.ProbeHTTP, Port: port, Path: "/"},
	}}})
	require.NoError(t, err)
	<-woken

	var waiting atomic.Int32
	waiting.Store(1)
	var failures atomic.Int32
	m := &Manager{Interval: time.Millisecond, Registry: reg, Prober: NewProber(), Log: logr.Discard(),
		Waiting: func(string) int { return int(waiting.Load()) },
		Observe: func(_ string, ok bool) {
			if !ok && failures.Add(1) == 3 {
				up.Store(true)
			}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Ensure(ctx, "shop/orders")
	m.Ensure(ctx, "shop/orders")
	assert.Equal(t, []string{"shop/orders"}, <-woken)
	assert.True(t, reg.Answering("shop/orders", ip))
	waiting.Store(0)
	require.Eventually(t, func() bool { return !m.loops.Running("shop/orders") }, 5*time.Second, time.Millisecond)
}

// TestManagerProbesARefusedReadyEndpoint: an endpoint the stream says is ready is not probed,
// until a connection to it was refused; then the probe checks it and marks it answering.
func TestManagerProbesARefusedReadyEndpoint(t *testing.T) {
	var probes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { probes.Add(1) }))
	defer srv.Close()
	ip, port := hostPort(t, srv.Listener.Addr().String())
	reg := registry.New("", nil)
	_, err := reg.Apply(stream.Message{Type: stream.TypeSnapshot, Services: []stream.Service{{
		Namespace: "shop", Name: "orders", Mode: stream.ModeProxy,
		Endpoints: []stream.Endpoint{{IP: ip, Ready: true, Ports: map[string]int32{"": port}}},
		Probe:     &stream.Probe{Type: stream.ProbeHTTP, Port: port, Path: "/"},
	}}})
	require.NoError(t, err)
	m := &Manager{Interval: time.Millisecond, Registry: reg, Prober: NewProber(), Log: logr.Discard(),
		Waiting: func(string) int { return 1 }}

	require.True(t, m.round(context.Background(), "shop/orders"))
	assert.Zero(t, probes.Load(), "a ready endpoint is not probed")

	reg.MarkRefused("shop/orders", ip)
	require.True(t, m.round(context.Background(), "shop/orders"))
	assert.Equal(t, int32(1), probes.Load())
	assert.True(t, reg.Answering("shop/orders", ip))
	assert.False(t, reg.Refused("shop/orders", ip))
}

package streamclient

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/elasti-dev/elasti/sidecar/internal/registry"
	"github.com/elasti-dev/elasti/sidecar/stuboperator"
)

func svc(name string) stream.Service {
	return stream.Service{Namespace: "shop", Name: name, Mode: stream.ModeProxy, Ports: []stream.Port{{Port: 80}}}
}

func start(t *testing.T, op *stuboperator.Operator, reg *registry.Registry, o Options) (connected *atomic.Int32) {
	t.Helper()
	connected = &atomic.Int32{}
	o.URL = op.URL()
	o.HTTPClient = op.Server.Client()
	o.Apply = reg.Apply
	o.MinBackoff, o.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	if o.Authorize == nil {
		o.Authorize = func(r *http.Request) error { r.Header.Set("Authorization", "Bearer tok"); return nil }
	}
	o.OnState = func(up, _ bool) {
		if up {
			connected.Add(1)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { New(logr.Discard(), o).Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return connected
}

func lastAck(op *stuboperator.Operator) stream.Ack {
	acks := op.Acks()
	if len(acks) == 0 {
		return stream.Ack{}
	}
	return acks[len(acks)-1]
}

func TestSnapshotUpdatesAcksAndReconnect(t *testing.T) {
	op := stuboperator.Start("tok", svc("orders"))
	defer op.Close()
	reg := registry.New("cluster.local", nil)
	start(t, op, reg, Options{})

	require.Eventually(t, reg.Synced, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return lastAck(op).Version == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"shop/orders"}, lastAck(op).Services)

	op.SetService(svc("cart"))
	require.Eventually(t, func() bool { return lastAck(op).Version == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"shop/cart", "shop/orders"}, lastAck(op).Services)

	op.RemoveService("shop/orders")
	require.Eventually(t, func() bool { return lastAck(op).Version == 3 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"shop/cart"}, lastAck(op).Services)

	// The stream drops; the view stays; the next connection starts with a snapshot.
	op.DropStreams()
	_, ok := reg.Get("shop/cart")
	assert.True(t, ok)
	op.SetService(svc("pay")) // while disconnected: only the snapshot can carry it
	require.Eventually(t, func() bool { _, ok := reg.Get("shop/pay"); return ok }, 5*time.Second, 5*time.Millisecond)
	assert.GreaterOrEqual(t, op.Connects(), 2)
	require.Eventually(t, func() bool { return len(lastAck(op).Services) == 2 }, 5*time.Second, 5*time.Millisecond)
}

func TestHeartbeatTimeoutReconnects(t *testing.T) {
	op := stuboperator.Start("tok", svc("orders"))
	defer op.Close()
	op.Heartbeat = time.Hour // the stub stays silent after the snapshot
	connected := start(t, op, registry.New("", nil), Options{HeartbeatTimeout: 50 * time.Millisecond})
	require.Eventually(t, func() bool { return connected.Load() >= 3 }, 5*time.Second, 5*time.Millisecond)
}

func TestRejectsBadStreams(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{name: "update first", body: `{"type":"update","version":1}` + "\n"},
		{name: "not json", body: "hello\n"},
		{name: "version goes back", body: `{"type":"snapshot","version":2}` + "\n" + `{"type":"update","version":1}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var attempts atomic.Int32
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != stream.StreamPath {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				attempts.Add(1)
				_, _ = w.Write([]byte(tt.body))
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			}))
			defer srv.Close()
			reg := registry.New("", nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go New(logr.Discard(), Options{URL: srv.URL, HTTPClient: srv.Client(), Apply: reg.Apply,
				Authorize: func(*http.Request) error { return nil }, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}).Run(ctx)
			// The client drops the connection itself and tries again.
			require.Eventually(t, func() bool { return attempts.Load() >= 2 }, 5*time.Second, 5*time.Millisecond)
		})
	}
}

func TestUnauthorizedIsRetried(t *testing.T) {
	op := stuboperator.Start("tok", svc("orders"))
	defer op.Close()
	var calls atomic.Int32
	reg := registry.New("", nil)
	start(t, op, reg, Options{Authorize: func(r *http.Request) error {
		// The first token is stale; the kubelet "rotates" it.
		tok := "stale"
		if calls.Add(1) > 2 {
			tok = "tok"
		}
		r.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}})
	require.Eventually(t, reg.Synced, 5*time.Second, 5*time.Millisecond)
}

func TestReadLineLimit(t *testing.T) {
	r := bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", 100)+"\nok\n"), 16)
	_, err := readLine(r, 50)
	require.ErrorContains(t, err, "larger than 50")
	r = bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", 40)+"\n"), 16)
	line, err := readLine(r, 50)
	require.NoError(t, err)
	assert.Len(t, line, 41)
}

// TestChangeAcks: the first Ack of a connection is full, the next ones carry only what changed;
// a new connection starts with a full one again.
func TestChangeAcks(t *testing.T) {
	op := stuboperator.Start("tok", svc("orders"))
	defer op.Close()
	reg := registry.New("cluster.local", nil)
	start(t, op, reg, Options{})
	require.Eventually(t, func() bool { return lastAck(op).Version == 1 }, 5*time.Second, 5*time.Millisecond)

	op.SetService(svc("cart"))
	require.Eventually(t, func() bool { return lastAck(op).Version == 2 }, 5*time.Second, 5*time.Millisecond)
	op.RemoveService("shop/orders")
	require.Eventually(t, func() bool { return lastAck(op).Version == 3 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"shop/cart"}, lastAck(op).Services)
	raw := op.RawAcks()
	require.Len(t, raw, 3)
	assert.Equal(t, []string{"shop/orders"}, raw[0].Services, "the first Ack is full")
	assert.Nil(t, raw[0].Change)
	assert.Nil(t, raw[1].Services)
	assert.Equal(t, &stream.AckChange{Added: []string{"shop/cart"}}, raw[1].Change)
	assert.Equal(t, &stream.AckChange{Removed: []string{"shop/orders"}}, raw[2].Change)

	op.DropStreams()
	require.Eventually(t, func() bool { return len(op.RawAcks()) == 4 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"shop/cart"}, op.RawAcks()[3].Services, "a new connection starts with a full Ack")
}

// TestChangeAcksRefused: an operator that predates change Acks answers them 400; the client
// sends the same state in full at once, and full Acks from then on.
func TestChangeAcksRefused(t *testing.T) {
	op := stuboperator.Start("tok", svc("orders"))
	defer op.Close()
	op.RefuseChangeAcks.Store(true)
	reg := registry.New("cluster.local", nil)
	start(t, op, reg, Options{})
	require.Eventually(t, func() bool { return lastAck(op).Version == 1 }, 5*time.Second, 5*time.Millisecond)
	op.SetService(svc("cart"))
	require.Eventually(t, func() bool { return lastAck(op).Version == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"shop/cart", "shop/orders"}, lastAck(op).Services)
	op.SetService(svc("pay"))
	require.Eventually(t, func() bool { return lastAck(op).Version == 3 }, 5*time.Second, 5*time.Millisecond)
	for _, a := range op.RawAcks() {
		assert.True(t, a.Full(), "only full Acks were accepted: %+v", a)
	}
	assert.Len(t, op.RawAcks(), 3, "one change refused, never another")
}

// TestAckTrafficIsLinear (issue 17): 1,000 services appearing one by one cost Ack bytes in
// proportion to the services that changed, not to the square of their number.
func TestAckTrafficIsLinear(t *testing.T) {
	const n = 1000
	op := stuboperator.Start("tok")
	defer op.Close()
	reg := registry.New("cluster.local", nil)
	o := Options{URL: op.URL(), HTTPClient: op.Server.Client(), Apply: reg.Apply,
		Authorize: func(r *http.Request) error { r.Header.Set("Authorization", "Bearer tok"); return nil }}
	c := New(logr.Discard(), o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	require.Eventually(t, reg.Synced, 5*time.Second, 5*time.Millisecond)

	full := 0 // what full Acks of the same states would have cost
	keys := []string{}
	for i := range n {
		s := svc(fmt.Sprintf("svc-%04d", i))
		op.SetService(s)
		keys = append(keys, s.Key())
		b, err := json.Marshal(stream.Ack{Version: uint64(i + 2), Services: keys})
		require.NoError(t, err)
		full += len(b)
		require.Eventually(t, func() bool { return lastAck(op).Version == uint64(i+2) }, 5*time.Second, time.Millisecond)
	}
	assert.Len(t, lastAck(op).Services, n)
	got := c.AckBytes()
	t.Logf("%d services added one by one: %d bytes of Acks (full Acks would have been %d bytes, %.0f× more)", n, got, full, float64(full)/float64(got))
	assert.Less(t, got, int64(100*n), "Ack bytes grow with the services changed (about 60 bytes each)")
	assert.Greater(t, full, 5_000_000, "the comparison is meaningful")
}

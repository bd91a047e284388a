package elastiserver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	ackstore "github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/pkg/stream"
)

func svc(ns, name, mode string) *stream.Service {
	return &stream.Service{Namespace: ns, Name: name, Mode: mode, Hosts: hosts(ns, name, "cluster.local")}
}

// openStream connects to the stream and returns a function reading the next Message.
func openStream(t *testing.T, h http.Handler, token string) (*http.Response, func() stream.Message) {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+stream.StreamPath, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	sc := bufio.NewScanner(resp.Body)
	return resp, func() stream.Message {
		t.Helper()
		require.True(t, sc.Scan(), "stream ended: %v", sc.Err())
		var m stream.Message
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		return m
	}
}

func TestStreamSnapshotThenUpdates(t *testing.T) {
	f := newFixture(t, gatewayPod("gw-1"))
	f.srv.state.set("shop/orders", svc("shop", "orders", stream.ModeProxy))
	f.srv.state.set("shop/cart", svc("shop", "cart", stream.ModeServe))

	resp, next := openStream(t, f.srv.Handler(), "gw-1")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, stream.ContentType, resp.Header.Get("Content-Type"))

	m := next()
	assert.Equal(t, stream.TypeSnapshot, m.Type)
	assert.Equal(t, uint64(1), m.Version)
	assert.Equal(t, []stream.Service{*svc("shop", "cart", stream.ModeServe), *svc("shop", "orders", stream.ModeProxy)}, m.Services, "every service, sorted by key")

	f.srv.state.set("shop/orders", svc("shop", "orders", stream.ModeServe))
	m = next()
	assert.Equal(t, stream.Message{Type: stream.TypeUpdate, Version: 2, Services: []stream.Service{*svc("shop", "orders", stream.ModeServe)}}, m)

	f.srv.state.set("shop/cart", nil)
	m = next()
	assert.Equal(t, stream.Message{Type: stream.TypeUpdate, Version: 3, Removed: []string{"shop/cart"}}, m)
}

func TestStreamHeartbeat(t *testing.T) {
	f := newFixture(t, gatewayPod("gw-1"))
	f.srv.opts.HeartbeatInterval = 5 * time.Millisecond
	_, next := openStream(t, f.srv.Handler(), "gw-1")
	require.Equal(t, stream.TypeSnapshot, next().Type)
	m := next()
	assert.Equal(t, stream.Message{Type: stream.TypeHeartbeat, Version: 1}, m, "a heartbeat repeats the last version")
}

func TestStreamRejects(t *testing.T) {
	f := newFixture(t, gatewayPod("gw-1"))
	w := call(f.srv.Handler(), http.MethodGet, stream.StreamPath, "", nil)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	w = call(f.srv.Handler(), http.MethodPost, stream.StreamPath, "gw-1", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, "GET", w.Header().Get("Allow"))

	notReady, err := New(Options{Insecure: true, Client: f.client, ScaleHandler: f.scaler, Authenticator: f.srv.opts.Authenticator, Cache: fakeCacheNeverStarted{}})
	require.NoError(t, err)
	w = call(notReady.Handler(), http.MethodGet, stream.StreamPath, "gw-1", nil)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code, "no empty snapshot before the state is built")
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
}

func TestSlowSubscriberIsCoalesced(t *testing.T) {
	st := newState()
	sub, snap := st.subscribe()
	assert.Empty(t, snap)
	// The subscriber reads nothing while a service changes many times and another comes and goes.
	for i := range 100 {
		st.set("shop/orders", &stream.Service{Namespace: "shop", Name: "orders", Mode: fmt.Sprint(i)})
	}
	st.set("shop/cart", svc("shop", "cart", stream.ModeServe))
	st.set("shop/cart", nil)
	st.set("shop/cart", nil) // no change: not marked again

	msg, ok := st.pending(sub)
	require.True(t, ok)
	assert.Equal(t, stream.Message{
		Type:     stream.TypeUpdate,
		Services: []stream.Service{{Namespace: "shop", Name: "orders", Mode: "99"}},
		Removed:  []string{"shop/cart"},
	}, msg, "one message with the latest state, no backlog")
	_, ok = st.pending(sub)
	assert.False(t, ok)

	for i := range maxDirty + 1 {
		st.set(fmt.Sprintf("ns/svc-%03d", i), svc("ns", fmt.Sprintf("svc-%03d", i), stream.ModeServe))
	}
	msg, ok = st.pending(sub)
	require.True(t, ok)
	assert.Equal(t, stream.TypeSnapshot, msg.Type, "too far behind: a snapshot")
	assert.Len(t, msg.Services, maxDirty+2)
	assert.Len(t, sub.notify, 1, "notifications never queue up")
}

func TestSetIgnoresEqualValues(t *testing.T) {
	st := newState()
	sub, _ := st.subscribe()
	assert.True(t, st.set("a/b", svc("a", "b", stream.ModeServe)))
	_, _ = st.pending(sub)
	assert.False(t, st.set("a/b", svc("a", "b", stream.ModeServe)))
	_, ok := st.pending(sub)
	assert.False(t, ok)
	st.unsubscribe(sub)
	st.set("a/b", nil)
	_, ok = st.pending(sub)
	assert.False(t, ok, "an unsubscribed stream is not marked")
}

func TestStreamEndsWhenTheCallerLosesAuthentication(t *testing.T) {
	f := newFixture(t, gatewayPod("gw-1"))
	f.srv.opts.HeartbeatInterval = 5 * time.Millisecond
	resp, next := openStream(t, f.srv.Handler(), "gw-1")
	require.Equal(t, stream.TypeSnapshot, next().Type)
	require.Equal(t, stream.TypeHeartbeat, next().Type)
	f.srv.opts.Authenticator.(*fakeAuth).revoke("gw-1") // the pod is gone, or the token expired
	_, err := io.Copy(io.Discard, resp.Body)
	assert.NoError(t, err, "the server ends the stream cleanly")
}

// TestStreamRecordsPresence: a stream marks its sidecar connected in its acknowledgement Lease
// before the snapshot, and disconnected when the sidecar goes away, but not when this replica
// shuts down (the sidecar then reconnects elsewhere, its ports still open).
func TestStreamRecordsPresence(t *testing.T) {
	f := newFixture(t, gatewayPod("gw-1"), gatewayPod("gw-2"))
	store := &ackstore.Store{Client: f.client}
	connected := func(name string) bool {
		states, err := store.States(context.Background())
		require.NoError(t, err)
		return states[types.UID("uid-pod-"+name)].Connected
	}
	ts := httptest.NewServer(f.srv.Handler())
	t.Cleanup(ts.Close)
	open := func(name, instance string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, ts.URL+stream.StreamPath, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+name)
		req.Header.Set(stream.InstanceHeader, instance)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		return resp
	}

	resp := open("gw-1", "00ff")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, connected("gw-1"), "recorded before the snapshot is sent")
	resp.Body.Close() // the sidecar process is gone
	require.Eventually(t, func() bool { return !connected("gw-1") }, 5*time.Second, 10*time.Millisecond)

	resp = open("gw-2", "00ff")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	f.srv.stopping.Store(true) // this replica shuts down
	resp.Body.Close()
	require.Never(t, func() bool { return !connected("gw-2") }, 300*time.Millisecond, 10*time.Millisecond)

	bad := open("gw-1", "NOT-HEX")
	assert.Equal(t, http.StatusBadRequest, bad.StatusCode)
	bad.Body.Close()
}

package elastiserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	ackstore "github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/operator/internal/auth"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/stream"
)

func TestAckAnswers(t *testing.T) {
	tests := []struct {
		name, method, token, body string
		wantCode                  int
		wantError                 string
	}{
		{name: "no token", method: http.MethodPost, body: `{"version":1,"services":[]}`, wantCode: 401, wantError: "unauthenticated"},
		{name: "GET", method: http.MethodGet, token: "gw-1", wantCode: 405, wantError: "use POST"},
		{name: "too large", method: http.MethodPost, token: "gw-1", body: `{"version":1,"services":["` + strings.Repeat("a", MaxAckBytes) + `"]}`, wantCode: 413, wantError: "over the limit"},
		{name: "malformed", method: http.MethodPost, token: "gw-1", body: `{"version":`, wantCode: 400, wantError: "invalid Ack"},
		{name: "unknown field", method: http.MethodPost, token: "gw-1", body: `{"version":1,"services":[],"extra":true}`, wantCode: 400, wantError: "unknown field"},
		{name: "trailing data", method: http.MethodPost, token: "gw-1", body: `{"version":1,"services":[]} {}`, wantCode: 400, wantError: "trailing data"},
		{name: "bad key", method: http.MethodPost, token: "gw-1", body: `{"version":1,"services":["orders"]}`, wantCode: 400, wantError: `service key "orders" is not "namespace/name"`},
		{name: "negative version", method: http.MethodPost, token: "gw-1", body: `{"version":-1,"services":[]}`, wantCode: 400, wantError: "invalid Ack"},
		{name: "full and change", method: http.MethodPost, token: "gw-1", body: `{"version":1,"services":[],"change":{"added":["a/b"]}}`, wantCode: 400, wantError: "both services"},
		{name: "neither", method: http.MethodPost, token: "gw-1", body: `{"version":1}`, wantCode: 400, wantError: "neither services"},
		{name: "null services, no change", method: http.MethodPost, token: "gw-1", body: `{"version":1,"services":null}`, wantCode: 400, wantError: "neither services"},
		{name: "bad added key", method: http.MethodPost, token: "gw-1", body: `{"version":1,"change":{"added":["orders"]}}`, wantCode: 400, wantError: `service key "orders"`},
		{name: "bad removed key", method: http.MethodPost, token: "gw-1", body: `{"version":1,"change":{"removed":["a/b/c"]}}`, wantCode: 400, wantError: `service key "a/b/c"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, gatewayPod("gw-1"))
			w := call(f.srv.Handler(), tt.method, stream.AckPath, tt.token, strings.NewReader(tt.body))
			require.Equal(t, tt.wantCode, w.Code, w.Body.String())
			var got errorBody
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got), w.Body.String())
			assert.Contains(t, got.Error, tt.wantError)
			assert.Empty(t, f.patches)
		})
	}
}

// TestAckRecordsInALease: an ack is recorded in the caller's acknowledgement Lease in Elasti's
// namespace, only the changes are written, and no pod is ever written.
func TestAckRecordsInALease(t *testing.T) {
	f := newFixture(t, gatewayPod("gw-1"), gatewayPod("gw-2"))
	ack := func(body string) {
		w := call(f.srv.Handler(), http.MethodPost, stream.AckPath, "gw-1", strings.NewReader(body))
		require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	}
	recorded := func(pod string) ([]string, bool) {
		l := &coordinationv1.Lease{}
		err := f.client.Get(context.Background(), types.NamespacedName{Namespace: names.SystemNamespace, Name: ackstore.LeaseName(types.UID("uid-pod-" + pod))}, l)
		if apierrors.IsNotFound(err) {
			return nil, false
		}
		require.NoError(t, err)
		return ackstore.Services(l), true
	}
	ack(`{"version":1,"services":["shop/orders","a/b","shop/orders"]}`)
	v, _ := recorded("gw-1")
	assert.Equal(t, []string{"a/b", "shop/orders"}, v, "sorted, without duplicates")
	_, ok := recorded("gw-2")
	assert.False(t, ok, "only the caller's acks are recorded")

	ack(`{"version":2,"services":["shop/orders","a/b"]}`)
	assert.Zero(t, f.patches[names.SystemNamespace+"/"+ackstore.LeaseName("uid-pod-gw-1")], "no write when nothing changed")

	ack(`{"version":3,"services":[]}`)
	v, ok = recorded("gw-1")
	assert.True(t, ok)
	assert.Empty(t, v, "an empty set is recorded, not left stale")
	assert.Equal(t, 1, f.patches[names.SystemNamespace+"/"+ackstore.LeaseName("uid-pod-gw-1")])
	assert.Zero(t, f.patches["edge/gw-1"], "pods are never written")

	// Change Acks: only what changed travels; the rest of the Lease stays.
	ack(`{"version":4,"change":{"added":["shop/orders","shop/cart"]}}`)
	v, _ = recorded("gw-1")
	assert.Equal(t, []string{"shop/cart", "shop/orders"}, v)
	ack(`{"version":5,"change":{"added":["a/b"],"removed":["shop/orders"]}}`)
	v, _ = recorded("gw-1")
	assert.Equal(t, []string{"a/b", "shop/cart"}, v)
	before := f.patches[names.SystemNamespace+"/"+ackstore.LeaseName("uid-pod-gw-1")]
	ack(`{"version":6,"change":{"added":["a/b"],"removed":["x/y"]}}`)
	assert.Equal(t, before, f.patches[names.SystemNamespace+"/"+ackstore.LeaseName("uid-pod-gw-1")], "no write when the change changes nothing")
	ack(`{"version":7,"change":{"added":["c/d"]}}`)
	v, _ = recorded("gw-2")
	assert.Empty(t, v, "a change applies to the caller's Lease only")

	// A change from a sidecar without a Lease yet creates it with what was added.
	w := call(f.srv.Handler(), http.MethodPost, stream.AckPath, "gw-2", strings.NewReader(`{"version":1,"change":{"added":["a/b"],"removed":["c/d"]}}`))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	v, _ = recorded("gw-2")
	assert.Equal(t, []string{"a/b"}, v)
}

func TestDecodeAckRefusesKeysThatCannotBeRecorded(t *testing.T) {
	long := strings.Repeat("a", 64)
	_, err := DecodeAck(strings.NewReader(`{"version":1,"services":["` + long + `/orders"]}`))
	require.ErrorIs(t, err, ErrInvalidAck)
	_, err = DecodeAck(strings.NewReader(`{"version":1,"services":["shop/` + long + `"]}`))
	require.ErrorIs(t, err, ErrInvalidAck)
}

func FuzzDecodeAck(f *testing.F) {
	f.Add([]byte(`{"version":1,"services":["shop/orders"]}`))
	f.Add([]byte(`{"version":18446744073709551615,"services":null}`))
	f.Add([]byte(`{"services":["a/b","a/b"]}garbage`))
	f.Add([]byte(`{"version":2,"change":{"added":["a/b","a/b"],"removed":["c/d"]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ack, err := DecodeAck(strings.NewReader(string(body)))
		if err != nil {
			return
		}
		if ack.Full() == (ack.Change != nil) {
			t.Fatalf("accepted an Ack that is not exactly one of full and change: %+v", ack)
		}
		lists := [][]string{ack.Services}
		if ack.Change != nil {
			lists = [][]string{ack.Change.Added, ack.Change.Removed}
		}
		for _, keys := range lists {
			for i, k := range keys {
				if _, ok := ackstore.AnnotationKey(k); !ok || !ackKey.MatchString(k) || (i > 0 && keys[i-1] >= k) {
					t.Fatalf("accepted keys not valid, sorted and unique: %q", keys)
				}
			}
		}
	})
}

// TestThrottledSignInIs503: a sign-in refused by the TokenReview rate limit is retried, not
// refused.
func TestThrottledSignInIs503(t *testing.T) {
	f := newFixture(t, gatewayPod("gw-1"))
	f.srv.opts.Authenticator = throttled{}
	w := call(f.srv.Handler(), http.MethodPost, stream.AckPath, "gw-1", strings.NewReader(`{"version":1,"services":[]}`))
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
	assert.Contains(t, w.Body.String(), "rate limit")
}

type throttled struct{}

func (throttled) Authenticate(context.Context, *http.Request) (auth.Caller, error) {
	return auth.Caller{}, auth.ErrThrottled
}

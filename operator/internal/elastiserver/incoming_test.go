package elastiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/messages"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/scaling"
	"github.com/elasti-dev/elasti/pkg/stream"
)

// call sends one request to the handler and returns the recorded answer.
func call(h http.Handler, method, path, token string, body io.Reader) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, body)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// unsizedReader hides the body's length, so the handler cannot reject it by Content-Length.
type unsizedReader struct{ io.Reader }

func TestIncomingRequestAnswers(t *testing.T) {
	const good = `{"count":2,"svc":"orders","namespace":"shop"}`
	big := `{"count":1,"svc":"orders","namespace":"shop","x":"` + strings.Repeat("a", messages.MaxRequestCountBytes) + `"}`
	tests := []struct {
		name      string
		method    string
		token     string
		body      io.Reader
		scaleErr  error
		wantCode  int
		wantError string
		wantBody  *IncomingRequestResponse
	}{
		{name: "no token", method: http.MethodPost, body: strings.NewReader(good), wantCode: 401, wantError: "unauthenticated"},
		{name: "unknown token", method: http.MethodPost, token: "stranger", body: strings.NewReader(good), wantCode: 401, wantError: "token not accepted"},
		{name: "authentication unavailable", method: http.MethodPost, token: "broken", body: strings.NewReader(good), wantCode: 503, wantError: "authentication is unavailable"},
		{name: "GET", method: http.MethodGet, token: "gw-1", wantCode: 405, wantError: "method GET is not allowed on /informer/incoming-request; use POST"},
		{name: "too large by Content-Length", method: http.MethodPost, token: "gw-1", body: strings.NewReader(big), wantCode: 413, wantError: "over the limit of 4096 bytes"},
		{name: "too large, chunked", method: http.MethodPost, token: "gw-1", body: unsizedReader{strings.NewReader(big)}, wantCode: 413, wantError: "over the limit of 4096 bytes"},
		{name: "empty body", method: http.MethodPost, token: "gw-1", body: strings.NewReader(""), wantCode: 400, wantError: "empty body"},
		{name: "malformed JSON", method: http.MethodPost, token: "gw-1", body: strings.NewReader(`{"count":`), wantCode: 400, wantError: "invalid RequestCount"},
		{name: "wrong type", method: http.MethodPost, token: "gw-1", body: strings.NewReader(`{"count":"1","svc":"orders","namespace":"shop"}`), wantCode: 400, wantError: `field "count" must be a int`},
		{name: "unknown field", method: http.MethodPost, token: "gw-1", body: strings.NewReader(`{"count":1,"svc":"orders","namespace":"shop","x":1}`), wantCode: 400, wantError: "unknown field"},
		{name: "invalid name", method: http.MethodPost, token: "gw-1", body: strings.NewReader(`{"count":1,"svc":"Orders","namespace":"shop"}`), wantCode: 400, wantError: "not a valid Service name"},
		{name: "unknown service", method: http.MethodPost, token: "gw-1", body: strings.NewReader(`{"count":1,"svc":"cart","namespace":"shop"}`), wantCode: 404, wantError: "no ElastiService names Service shop/cart"},
		{name: "scale-up fails", method: http.MethodPost, token: "gw-1", body: strings.NewReader(good), scaleErr: errors.New("scaling shop/orders Deployment: forbidden"), wantCode: 503, wantError: "forbidden"},
		{name: "accepted", method: http.MethodPost, token: "gw-1", body: strings.NewReader(good), wantCode: 202, wantBody: &IncomingRequestResponse{Service: "shop/orders", State: StateScalingUp, Replicas: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, elastiService("shop", "orders-es", "orders"), gatewayPod("gw-1"))
			f.scaler.err = tt.scaleErr
			w := call(f.srv.Handler(), tt.method, stream.IncomingRequestPath, tt.token, tt.body)
			require.Equal(t, tt.wantCode, w.Code, w.Body.String())
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			if tt.wantBody != nil {
				var got IncomingRequestResponse
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
				assert.Equal(t, *tt.wantBody, got)
				assert.Equal(t, []string{"shop/orders-es"}, f.scaler.calls)
				return
			}
			var got errorBody
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got), w.Body.String())
			assert.Contains(t, got.Error, tt.wantError)
			switch tt.wantCode {
			case 401:
				assert.NotEmpty(t, w.Header().Get("WWW-Authenticate"))
			case 405:
				assert.Equal(t, "POST", w.Header().Get("Allow"))
			case 503:
				assert.Equal(t, "1", w.Header().Get("Retry-After"))
			}
			if tt.scaleErr == nil {
				assert.Empty(t, f.scaler.calls, "nothing is scaled for a rejected request")
			}
		})
	}
}

func TestIncomingRequestState(t *testing.T) {
	tests := []struct {
		name      string
		result    scaling.ScaleResult
		endpoints []stream.Endpoint
		want      string
	}{
		{name: "scaled from zero", result: scaling.ScaleResult{Replicas: 2, ScaledFromZero: true}, want: StateScalingUp},
		{name: "up, no endpoint yet", result: scaling.ScaleResult{Replicas: 2}, want: StateWaking},
		{name: "up, endpoint not ready", result: scaling.ScaleResult{Replicas: 2}, endpoints: []stream.Endpoint{{IP: "10.0.0.1"}}, want: StateWaking},
		{name: "up, endpoint ready", result: scaling.ScaleResult{Replicas: 2}, endpoints: []stream.Endpoint{{IP: "10.0.0.1"}, {IP: "10.0.0.2", Ready: true}}, want: StateReady},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, elastiService("shop", "orders", "orders"), gatewayPod("gw-1"))
			f.scaler.result = tt.result
			f.srv.state.set("shop/orders", &stream.Service{Namespace: "shop", Name: "orders", Endpoints: tt.endpoints})
			w := call(f.srv.Handler(), http.MethodPost, stream.IncomingRequestPath, "gw-1", strings.NewReader(`{"count":1,"svc":"orders","namespace":"shop"}`))
			require.Equal(t, http.StatusAccepted, w.Code)
			var got IncomingRequestResponse
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
			assert.Equal(t, IncomingRequestResponse{Service: "shop/orders", State: tt.want, Replicas: tt.result.Replicas}, got)
		})
	}
}

func TestIncomingRequestRateLimit(t *testing.T) {
	f := newFixture(t, elastiService("shop", "orders", "orders"), elastiService("shop", "cart", "cart"), gatewayPod("gw-1"), gatewayPod("gw-2"))
	send := func(token, svc string) *httptest.ResponseRecorder {
		return call(f.srv.Handler(), http.MethodPost, stream.IncomingRequestPath, token, strings.NewReader(`{"count":1,"svc":"`+svc+`","namespace":"shop"}`))
	}
	for range 3 { // burst 3
		require.Equal(t, http.StatusAccepted, send("gw-1", "orders").Code)
	}
	w := send("gw-1", "orders")
	require.Equal(t, http.StatusTooManyRequests, w.Code, w.Body.String())
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
	assert.Contains(t, w.Body.String(), "too many RequestCounts for shop/orders from pod edge/gw-1")

	assert.Equal(t, http.StatusAccepted, send("gw-2", "orders").Code, "another caller is not limited")
	assert.Equal(t, http.StatusAccepted, send("gw-1", "cart").Code, "another service is not limited")

	f.clock.Add(time.Second) // rate 1/s: one token back
	assert.Equal(t, http.StatusAccepted, send("gw-1", "orders").Code)
	assert.Equal(t, http.StatusTooManyRequests, send("gw-1", "orders").Code)
	assert.Len(t, f.scaler.calls, 6, "a limited request scales nothing")
}

func TestIncomingRequestMarksActivity(t *testing.T) {
	f := newFixture(t, elastiService("shop", "orders", "orders"), gatewayPod("gw-1"), gatewayPod("gw-2"))
	send := func(token string) {
		w := call(f.srv.Handler(), http.MethodPost, stream.IncomingRequestPath, token, strings.NewReader(`{"count":1,"svc":"orders","namespace":"shop"}`))
		require.Equal(t, http.StatusAccepted, w.Code)
	}
	annotation := func() string {
		es := &v1alpha1.ElastiService{}
		require.NoError(t, f.client.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: "orders"}, es))
		return es.Annotations[names.AnnotationLastActivity]
	}
	send("gw-1")
	assert.Equal(t, "2026-05-01T10:00:00Z", annotation())
	f.clock.Add(2 * time.Second)
	send("gw-2")
	assert.Equal(t, 1, f.patches["shop/orders"], "at most one patch per interval, whoever calls")
	f.clock.Add(3 * time.Second)
	send("gw-1")
	assert.Equal(t, "2026-05-01T10:00:05Z", annotation())
	assert.Equal(t, 2, f.patches["shop/orders"])
}

// TestActivityReportNeverWakes: count 0 (a request was served by a pod that could answer) marks
// the service active but never scales: the target may have been scaled to zero since, by hand or
// by the leader, and nothing waits for it.
func TestActivityReportNeverWakes(t *testing.T) {
	f := newFixture(t, elastiService("shop", "orders", "orders"), gatewayPod("gw-1"))
	w := call(f.srv.Handler(), http.MethodPost, stream.IncomingRequestPath, "gw-1", strings.NewReader(`{"count":0,"svc":"orders","namespace":"shop"}`))
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	assert.Empty(t, f.scaler.calls, "an activity report scales nothing")
	assert.Equal(t, 1, f.patches["shop/orders"], "but it marks the service active")
	var got IncomingRequestResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	assert.Equal(t, "shop/orders", got.Service)
	assert.NotEqual(t, StateScalingUp, got.State)

	w = call(f.srv.Handler(), http.MethodPost, stream.IncomingRequestPath, "gw-1", strings.NewReader(`{"count":1,"svc":"orders","namespace":"shop"}`))
	require.Equal(t, http.StatusAccepted, w.Code)
	assert.Len(t, f.scaler.calls, 1, "a held request does wake it")
}

func TestElastiServiceForPicksTheOldest(t *testing.T) {
	older := elastiService("shop", "b-first", "orders")
	older.CreationTimestamp.Time = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	newer := elastiService("shop", "a-second", "orders")
	newer.CreationTimestamp.Time = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	other := elastiService("other", "x", "orders")
	f := newFixture(t, newer, older, other)
	es, err := elastiServiceFor(context.Background(), f.client, "shop", "orders", "")
	require.NoError(t, err)
	require.NotNil(t, es)
	assert.Equal(t, "b-first", es.Name)
	es, err = elastiServiceFor(context.Background(), f.client, "shop", "cart", "")
	require.NoError(t, err)
	assert.Nil(t, es)
}

func TestIncomingRequestConfirmsUnknownServicesWithTheAPIReader(t *testing.T) {
	f := newFixture(t, gatewayPod("gw-1"))
	api := newFixture(t, elastiService("shop", "orders", "orders")) // what the API server already has
	f.srv.opts.APIReader = api.client
	w := call(f.srv.Handler(), http.MethodPost, stream.IncomingRequestPath, "gw-1", strings.NewReader(`{"count":1,"svc":"orders","namespace":"shop"}`))
	assert.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	w = call(f.srv.Handler(), http.MethodPost, stream.IncomingRequestPath, "gw-1", strings.NewReader(`{"count":1,"svc":"cart","namespace":"shop"}`))
	assert.Equal(t, http.StatusNotFound, w.Code, w.Body.String())
}

// TestReportSentBeforeTheScaleDownNeverWakes: a RequestCount the sidecar built before the
// operator last scaled the target to zero (a retry or a slow network delivered it late) is
// answered 409 and scales nothing; one sent after it, without sentAt (an older sidecar) or an
// activity report is handled as always.
func TestReportSentBeforeTheScaleDownNeverWakes(t *testing.T) {
	down := time.Date(2026, 5, 1, 9, 59, 30, 0, time.UTC)
	tests := []struct {
		name     string
		body     string
		wantCode int
		wantMsg  string
		wantWake bool
	}{
		{name: "sent before the scale-down", body: `{"count":1,"svc":"orders","namespace":"shop","sentAt":"2026-05-01T09:59:29.5Z"}`, wantCode: http.StatusConflict,
			wantMsg: "RequestCount for shop/orders sent at 2026-05-01T09:59:29.5Z is older than the last scale to zero at 2026-05-01T09:59:30Z (status.lastScaledDownTime of ElastiService shop/orders): ignored"},
		{name: "sent after the scale-down", body: `{"count":1,"svc":"orders","namespace":"shop","sentAt":"2026-05-01T09:59:31Z"}`, wantCode: http.StatusAccepted, wantWake: true},
		{name: "sent in the same second", body: `{"count":1,"svc":"orders","namespace":"shop","sentAt":"2026-05-01T09:59:30Z"}`, wantCode: http.StatusAccepted, wantWake: true},
		{name: "no sentAt (an older sidecar)", body: `{"count":1,"svc":"orders","namespace":"shop"}`, wantCode: http.StatusAccepted, wantWake: true},
		{name: "activity sent before the scale-down", body: `{"count":0,"svc":"orders","namespace":"shop","sentAt":"2026-05-01T09:00:00Z"}`, wantCode: http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := elastiService("shop", "orders", "orders")
			es.Status.LastScaledDownTime = &metav1.Time{Time: down}
			f := newFixture(t, es, gatewayPod("gw-1"))
			w := call(f.srv.Handler(), http.MethodPost, stream.IncomingRequestPath, "gw-1", strings.NewReader(tt.body))
			require.Equal(t, tt.wantCode, w.Code, w.Body.String())
			assert.Contains(t, w.Body.String(), tt.wantMsg)
			assert.Equal(t, tt.wantWake, len(f.scaler.calls) == 1, "scale-ups: %v", f.scaler.calls)
			if tt.wantCode == http.StatusConflict {
				assert.Zero(t, f.patches["shop/orders"], "an ignored report does not mark the service active")
			}
		})
	}
}

type countedTraffic struct {
	mu    sync.Mutex
	added map[string]int64
}

func (c *countedTraffic) Add(key string, n int64, _ time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.added[key] += n
}

// TestForwardedRequestsAreCounted: the forwarded count of activity reports goes to the traffic
// counter; reports refused before the lookup (unknown service) add nothing.
func TestForwardedRequestsAreCounted(t *testing.T) {
	f := newFixture(t, elastiService("shop", "orders", "orders"), gatewayPod("gw-1"))
	counted := &countedTraffic{added: map[string]int64{}}
	f.srv.opts.Traffic = counted
	for _, body := range []string{
		`{"count":0,"svc":"orders","namespace":"shop","forwarded":7}`,
		`{"count":0,"svc":"orders","namespace":"shop","forwarded":5}`,
		`{"count":0,"svc":"orders","namespace":"shop"}`,
	} {
		w := call(f.srv.Handler(), http.MethodPost, stream.IncomingRequestPath, "gw-1", strings.NewReader(body))
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	}
	w := call(f.srv.Handler(), http.MethodPost, stream.IncomingRequestPath, "gw-1", strings.NewReader(`{"count":0,"svc":"nobody","namespace":"shop","forwarded":9}`))
	require.Equal(t, http.StatusNotFound, w.Code)
	assert.Equal(t, map[string]int64{"shop/orders": 12}, counted.added)
	assert.Empty(t, f.scaler.calls, "forwarded requests wake nothing")
}

// listRecorder remembers the field selectors of List calls.
type listRecorder struct {
	client.Reader
	fields []string
}

func (l *listRecorder) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := &client.ListOptions{}
	o.ApplyOptions(opts)
	if o.FieldSelector != nil {
		l.fields = append(l.fields, o.FieldSelector.String())
	}
	return l.Reader.List(ctx, list, opts...)
}

// TestElastiServiceForByIndex: with a field index the lookup reads only the ElastiServices naming
// the Service, and picks the same one as a namespace list.
func TestElastiServiceForByIndex(t *testing.T) {
	const index = "test/service"
	older := elastiService("shop", "b-first", "orders")
	older.CreationTimestamp.Time = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	newer := elastiService("shop", "a-second", "orders")
	newer.CreationTimestamp.Time = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	c := fake.NewClientBuilder().WithScheme(scheme(t)).WithObjects(newer, older, elastiService("shop", "cart", "cart")).
		WithIndex(&v1alpha1.ElastiService{}, index, func(o client.Object) []string {
			return []string{o.(*v1alpha1.ElastiService).Spec.Service}
		}).Build()
	r := &listRecorder{Reader: c}
	es, err := elastiServiceFor(context.Background(), r, "shop", "orders", index)
	require.NoError(t, err)
	require.NotNil(t, es)
	assert.Equal(t, "b-first", es.Name)
	assert.Equal(t, []string{index + "=orders"}, r.fields, "read through the index")
	es, err = elastiServiceFor(context.Background(), r, "shop", "nobody", index)
	require.NoError(t, err)
	assert.Nil(t, es)
}

// TestWakeBurstSizesTheWakeUp: with spec.wakeBurst, a report of held requests asks for replicas
// sized to what all sidecars hold at once (their last reports within burstWindow), and may raise a
// target that is up only shortly after the scale from zero; without it, the minimum, never raising.
func TestWakeBurstSizesTheWakeUp(t *testing.T) {
	report := func(f *fixture, pod string, count int) {
		t.Helper()
		body := fmt.Sprintf(`{"count":%d,"svc":"orders","namespace":"shop"}`, count)
		w := call(f.srv.Handler(), http.MethodPost, stream.IncomingRequestPath, pod, strings.NewReader(body))
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	}
	t.Run("without wakeBurst", func(t *testing.T) {
		es := elastiService("shop", "orders", "orders")
		es.Spec.MinTargetReplicas = 2
		f := newFixture(t, es, gatewayPod("gw-1"))
		report(f, "gw-1", 500)
		assert.Equal(t, []scaleCall{{Want: 2}}, f.scaler.wants)
	})
	t.Run("with wakeBurst", func(t *testing.T) {
		es := elastiService("shop", "orders", "orders")
		es.Spec.WakeBurst = &v1alpha1.WakeBurst{RequestsPerReplica: 10, MaxReplicas: 8}
		f := newFixture(t, es, gatewayPod("gw-1"), gatewayPod("gw-2"))
		report(f, "gw-1", 30)                              // the first report wakes the target (the fake says "from zero")
		f.scaler.result = scaling.ScaleResult{Replicas: 3} // from now on it is up
		report(f, "gw-2", 25)                              // 55 held at once
		f.clock.Add(time.Second)
		report(f, "gw-1", 120) // grew: 145, capped at 8
		f.clock.Add(2500 * time.Millisecond)
		report(f, "gw-1", 12) // gw-2's report is 3.5 s old: only 12 count
		f.clock.Add(2 * time.Minute)
		report(f, "gw-1", 40) // too long after the wake-up to raise
		assert.Equal(t, []scaleCall{{3, false}, {6, true}, {8, true}, {2, true}, {4, false}}, f.scaler.wants)
	})
	t.Run("a wake-up by another replica, seen in status, allows raising", func(t *testing.T) {
		es := elastiService("shop", "orders", "orders")
		es.Spec.WakeBurst = &v1alpha1.WakeBurst{RequestsPerReplica: 10, MaxReplicas: 8}
		es.Status.LastScaledUpTime = &metav1.Time{Time: time.Date(2026, 5, 1, 9, 59, 0, 0, time.UTC)} // a minute before the fixture's clock
		f := newFixture(t, es, gatewayPod("gw-1"))
		f.scaler.result = scaling.ScaleResult{Replicas: 1}
		report(f, "gw-1", 45)
		assert.Equal(t, []scaleCall{{5, true}}, f.scaler.wants)
	})
}

func TestBurstsSweep(t *testing.T) {
	b := newBursts()
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	assert.Equal(t, 3, b.observe("shop/a", "p1", 3, t0))
	b.wokeUp("shop/a", t0)
	assert.Equal(t, 4, b.observe("shop/b", "p1", 4, t0.Add(time.Second)))
	b.observe("shop/c", "p1", 1, t0.Add(burstRaiseWindow+time.Minute)) // sweeps
	b.mu.Lock()
	defer b.mu.Unlock()
	assert.Equal(t, []string{"shop/c"}, slices.Collect(maps.Keys(b.held)))
	assert.Empty(t, b.woke)
}

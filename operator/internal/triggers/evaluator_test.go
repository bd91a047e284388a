package triggers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

// answer is what the fake Prometheus sends for one query.
type answer struct {
	code int
	body string
	// hang makes the server wait until the client gives up.
	hang bool
}

func vector(values ...string) string {
	s := `{"status":"success","data":{"resultType":"vector","result":[`
	for i, v := range values {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf(`{"metric":{"pod":"p%d"},"value":[1700000000.5,%q]}`, i, v)
	}
	return s + `]}}`
}

func scalar(v string) string {
	return fmt.Sprintf(`{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,%q]}}`, v)
}

// fakeProm speaks the instant query API; answers are keyed by query.
func fakeProm(t *testing.T, answers map[string]answer, wantHeader map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/api/v1/query", r.URL.Path)
		assert.Equal(t, http.MethodGet, r.Method)
		for k, v := range wantHeader {
			assert.Equal(t, v, r.Header.Get(k), "header %s", k)
		}
		a, ok := answers[r.URL.Query().Get("query")]
		if !ok {
			t.Errorf("unexpected query %q", r.URL.Query().Get("query"))
			w.WriteHeader(http.StatusTeapot)
			return
		}
		if a.hang {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.code)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func threshold(raw string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(raw)} }

func esWith(cooldown int32, triggers ...v1alpha1.ScaleTrigger) *v1alpha1.ElastiService {
	return &v1alpha1.ElastiService{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders"},
		Spec:       v1alpha1.ElastiServiceSpec{Service: "orders", CooldownPeriod: &cooldown, Triggers: triggers},
	}
}

func promTrigger(query, thr, filter string) v1alpha1.ScaleTrigger {
	return v1alpha1.ScaleTrigger{Type: v1alpha1.TriggerTypePrometheus, Metadata: v1alpha1.TriggerMetadata{
		Query: query, Threshold: threshold(thr), UptimeFilter: filter,
	}}
}

const q = `sum(rate(http_requests_total{service="orders"}[1m]))`

func TestIdle(t *testing.T) {
	ok := func(body string) answer { return answer{code: 200, body: body} }
	healthy := map[string]answer{
		`up{job="prometheus"}`:                                  ok(vector("1")),
		`time() - process_start_time_seconds{job="prometheus"}`: ok(vector("3600")),
	}
	with := func(extra map[string]answer) map[string]answer {
		m := map[string]answer{}
		for k, v := range healthy {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name     string
		answers  map[string]answer
		trigger  v1alpha1.ScaleTrigger
		wantIdle bool
		wantErr  string
	}{
		{name: "vector below threshold", answers: with(map[string]answer{q: ok(vector("0.2"))}), trigger: promTrigger(q, "1", ""), wantIdle: true},
		{name: "vector at threshold is busy", answers: with(map[string]answer{q: ok(vector("1"))}), trigger: promTrigger(q, "1", "")},
		{name: "threshold as a string", answers: with(map[string]answer{q: ok(vector("0.4"))}), trigger: promTrigger(q, `"0.5"`, ""), wantIdle: true},
		{name: "scalar below threshold", answers: with(map[string]answer{q: ok(scalar("0"))}), trigger: promTrigger(q, "1", ""), wantIdle: true},
		{name: "scalar above threshold", answers: with(map[string]answer{q: ok(scalar("7"))}), trigger: promTrigger(q, "1", "")},
		{name: "multiple samples: the largest counts", answers: with(map[string]answer{q: ok(vector("0", "3", "0.1"))}), trigger: promTrigger(q, "1", "")},
		{name: "multiple samples all below", answers: with(map[string]answer{q: ok(vector("0", "0.5"))}), trigger: promTrigger(q, "1", ""), wantIdle: true},
		{name: "+Inf is busy", answers: with(map[string]answer{q: ok(vector("+Inf"))}), trigger: promTrigger(q, "1", "")},
		{name: "empty vector is an error", answers: with(map[string]answer{q: ok(vector())}), trigger: promTrigger(q, "1", ""), wantErr: "no samples; if no data means idle, append `or vector(0)`"},
		{name: "NaN is an error", answers: with(map[string]answer{q: ok(vector("NaN"))}), trigger: promTrigger(q, "1", ""), wantErr: "NaN"},
		{name: "NaN among samples is an error", answers: with(map[string]answer{q: ok(vector("0", "NaN"))}), trigger: promTrigger(q, "1", ""), wantErr: "NaN"},
		{name: "-Inf is an error", answers: with(map[string]answer{q: ok(vector("-Inf"))}), trigger: promTrigger(q, "1", ""), wantErr: "-Inf"},
		{name: "error status", answers: with(map[string]answer{q: {code: 400, body: `{"status":"error","errorType":"bad_data","error":"parse error at char 5"}`}}), trigger: promTrigger(q, "1", ""), wantErr: "HTTP 400 (bad_data: the query may be wrong"},
		{name: "error status in a 200", answers: with(map[string]answer{q: ok(`{"status":"error","errorType":"timeout","error":"query timed out"}`)}), trigger: promTrigger(q, "1", ""), wantErr: "prometheus answered error timeout"},
		{name: "non-JSON 502 from a proxy", answers: with(map[string]answer{q: {code: 502, body: "<html>bad gateway</html>"}}), trigger: promTrigger(q, "1", ""), wantErr: "HTTP 502 (the answer is not shown)"},
		{name: "bad JSON", answers: with(map[string]answer{q: ok(`{"status":"success","data":`)}), trigger: promTrigger(q, "1", ""), wantErr: "decoding Prometheus answer"},
		{name: "bad sample value", answers: with(map[string]answer{q: ok(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}`)}), trigger: promTrigger(q, "1", ""), wantErr: "expected a string"},
		{name: "matrix result", answers: with(map[string]answer{q: ok(`{"status":"success","data":{"resultType":"matrix","result":[]}}`)}), trigger: promTrigger(q, "1", ""), wantErr: `result type "matrix" is not supported`},
		{name: "timeout", answers: with(map[string]answer{q: {hang: true}}), trigger: promTrigger(q, "1", ""), wantErr: "Client.Timeout"},
		{name: "uptimeFilter healthy", answers: with(map[string]answer{q: ok(vector("0"))}), trigger: promTrigger(q, "1", `job="prometheus"`), wantIdle: true},
		{name: "uptimeFilter: up is 0", answers: with(map[string]answer{`up{job="prometheus"}`: ok(vector("0")), q: ok(vector("0"))}), trigger: promTrigger(q, "1", `job="prometheus"`), wantErr: `up{job="prometheus"} is 0, expected 1`},
		{name: "uptimeFilter: up missing", answers: with(map[string]answer{`up{job="prometheus"}`: ok(vector()), q: ok(vector("0"))}), trigger: promTrigger(q, "1", `job="prometheus"`), wantErr: "has no series"},
		{name: "uptimeFilter: Prometheus younger than cooldown", answers: with(map[string]answer{`time() - process_start_time_seconds{job="prometheus"}`: ok(vector("120")), q: ok(vector("0"))}), trigger: promTrigger(q, "1", `job="prometheus"`), wantErr: "up for 120s, less than the cooldown of 5m0s"},
		{name: "uptimeFilter: no start time series skips the age check", answers: with(map[string]answer{`time() - process_start_time_seconds{job="prometheus"}`: ok(vector()), q: ok(vector("0"))}), trigger: promTrigger(q, "1", `job="prometheus"`), wantIdle: true},
		{name: "missing threshold", answers: healthy, trigger: v1alpha1.ScaleTrigger{Type: v1alpha1.TriggerTypePrometheus, Metadata: v1alpha1.TriggerMetadata{Query: q}}, wantErr: "threshold is not set"},
		{name: "unknown trigger type", answers: healthy, trigger: v1alpha1.ScaleTrigger{Type: "cpu"}, wantErr: `trigger type "cpu" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeProm(t, tt.answers, nil)
			e := &Evaluator{HTTPClient: &http.Client{Timeout: 200 * time.Millisecond}, DefaultServerAddress: srv.URL}
			idle, err := e.Idle(context.Background(), esWith(300, tt.trigger))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.False(t, idle, "an error is never idle")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantIdle, idle)
		})
	}
}

func TestIdleNeedsEveryTrigger(t *testing.T) {
	const q2 = "sum(queue_depth)"
	srv := fakeProm(t, map[string]answer{q: {code: 200, body: vector("0")}, q2: {code: 200, body: vector("5")}}, nil)
	e := &Evaluator{DefaultServerAddress: srv.URL}
	idle, err := e.Idle(context.Background(), esWith(60, promTrigger(q, "1", ""), promTrigger(q2, "1", "")))
	require.NoError(t, err)
	assert.False(t, idle)

	idle, err = e.Idle(context.Background(), esWith(60, promTrigger(q, "1", "")))
	require.NoError(t, err)
	assert.True(t, idle)

	idle, err = e.Idle(context.Background(), esWith(60))
	require.NoError(t, err)
	assert.False(t, idle, "without triggers nothing is idle")
}

func TestIdleSendsHeadersAndUsesTriggerServer(t *testing.T) {
	srv := fakeProm(t, map[string]answer{q: {code: 200, body: vector("0")}}, map[string]string{"X-Scope-OrgID": "tenant-a"})
	tr := promTrigger(q, "1", "")
	tr.Metadata.ServerAddress = srv.URL + "/"
	tr.Metadata.Headers = map[string]string{"X-Scope-OrgID": "tenant-a"}
	e := &Evaluator{DefaultServerAddress: "http://127.0.0.1:1", AllowedServerAddresses: []string{srv.URL}} // the default would fail if used
	idle, err := e.Idle(context.Background(), esWith(60, tr))
	require.NoError(t, err)
	assert.True(t, idle)
}

func TestIdleWithoutServer(t *testing.T) {
	_, err := (&Evaluator{}).Idle(context.Background(), esWith(60, promTrigger(q, "1", "")))
	require.ErrorContains(t, err, "no Prometheus address")
}

func TestIdleUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	_, err := (&Evaluator{DefaultServerAddress: addr}).Idle(context.Background(), esWith(60, promTrigger(q, "1", "")))
	require.ErrorContains(t, err, "querying Prometheus "+addr)
}

func FuzzParseSamples(f *testing.F) {
	f.Add([]byte(vector("1", "NaN")))
	f.Add([]byte(scalar("+Inf")))
	f.Add([]byte(`{"status":"error","errorType":"x","error":"y"}`))
	f.Add([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"value":[1]}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		samples, err := parseSamples(body)
		if err == nil && len(samples) == 0 {
			t.Fatalf("success without samples for %q", body)
		}
	})
}

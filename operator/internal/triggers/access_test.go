package triggers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

// recorder is a Prometheus that records every request it gets and answers with handler.
type recorder struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
}

func newRecorder(t *testing.T, handler http.HandlerFunc) *recorder {
	t.Helper()
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests = append(r.requests, req.Clone(context.Background()))
		r.mu.Unlock()
		if handler != nil {
			handler(w, req)
			return
		}
		_, _ = w.Write([]byte(vector("0")))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

func (r *recorder) last() *http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[len(r.requests)-1]
}

func triggerAt(server string) v1alpha1.ScaleTrigger {
	tr := promTrigger(q, "1", "")
	tr.Metadata.ServerAddress = server
	return tr
}

// TestServerAllowList: an address that is not the default nor allowed is refused before any
// request, whatever form it takes.
func TestServerAllowList(t *testing.T) {
	target := newRecorder(t, nil)
	allowed := newRecorder(t, nil)
	e := &Evaluator{DefaultServerAddress: allowed.URL + "/", AllowedServerAddresses: []string{"http://thanos.monitoring.svc:9090/prom"}}
	for _, addr := range []string{
		target.URL,
		target.URL + "/api/v1/query",
		"http://169.254.169.254/latest/meta-data",
		"http://user:pass@" + allowed.Listener.Addr().String(),
		allowed.URL + "/?x=1",
		allowed.URL + "/#frag",
		allowed.URL + "/other",
		"http://thanos.monitoring.svc:9090/prom/../../admin",
		"file:///etc/passwd",
	} {
		t.Run(addr, func(t *testing.T) {
			_, err := e.Idle(context.Background(), esWith(60, triggerAt(addr)))
			require.ErrorIs(t, err, ErrNotAllowed)
			assert.Contains(t, err.Error(), "is not a Prometheus the operator may query; no request was sent")
			assert.Contains(t, err.Error(), "Allowed: "+allowed.URL+", http://thanos.monitoring.svc:9090/prom")
		})
	}
	assert.Zero(t, target.count(), "no request to an address not allowed")
	assert.Zero(t, allowed.count())

	t.Run("the default, spelled with or without the trailing slash", func(t *testing.T) {
		for _, addr := range []string{"", allowed.URL, allowed.URL + "/", "HTTP://" + allowed.Listener.Addr().String()} {
			idle, err := e.Idle(context.Background(), esWith(60, triggerAt(addr)))
			require.NoError(t, err, addr)
			assert.True(t, idle)
		}
	})
}

// TestQueryPathFromBaseURL: the request path is the allowed base URL's path + /api/v1/query.
func TestQueryPathFromBaseURL(t *testing.T) {
	srv := newRecorder(t, nil)
	e := &Evaluator{AllowedServerAddresses: []string{srv.URL + "/tenant-a/prometheus/"}}
	_, err := e.Idle(context.Background(), esWith(60, triggerAt(srv.URL+"/tenant-a/prometheus")))
	require.NoError(t, err)
	assert.Equal(t, "/tenant-a/prometheus/api/v1/query", srv.last().URL.Path)
	assert.Equal(t, q, srv.last().URL.Query().Get("query"))
}

func TestNoRedirects(t *testing.T) {
	elsewhere := newRecorder(t, nil)
	redirector := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/api/v1/query?"+r.URL.RawQuery, http.StatusFound)
	})
	c := &http.Client{CheckRedirect: nil} // a caller's client that would follow
	e := &Evaluator{HTTPClient: c, DefaultServerAddress: redirector.URL}
	_, err := e.Idle(context.Background(), esWith(60, promTrigger(q, "1", "")))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 302 (a redirect; redirects are not followed")
	assert.Zero(t, elsewhere.count(), "the redirect was followed")
}

// TestAnswersAreNeverEchoed: whatever a server answers, its text does not reach the error (which
// becomes the TriggersHealthy condition and a TriggerError Event).
func TestAnswersAreNeverEchoed(t *testing.T) {
	const secret = "AKIA-SECRET-TOKEN"
	for name, a := range map[string]answer{
		"500 text":              {code: 500, body: secret},
		"403 JSON error":        {code: 403, body: `{"status":"error","errorType":"` + secret + `","error":"` + secret + `"}`},
		"400 Prometheus error":  {code: 400, body: `{"status":"error","errorType":"bad_data","error":"` + secret + `"}`},
		"200 error status":      {code: 200, body: `{"status":"error","errorType":"timeout","error":"` + secret + `"}`},
		"200 unknown status":    {code: 200, body: `{"status":"` + secret + `"}`},
		"200 not JSON":          {code: 200, body: secret},
		"200 bad sample value":  {code: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"` + secret + `"]}]}}`},
		"200 bad sample pair":   {code: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":["` + secret + `"]}]}}`},
		"200 unknown type":      {code: 200, body: `{"status":"success","data":{"resultType":"` + secret + `","result":[]}}`},
		"200 bad data":          {code: 200, body: `{"status":"success","data":"` + secret + `"}`},
		"200 non-string sample": {code: 200, body: `{"status":"success","data":{"resultType":"scalar","result":[1,{"` + secret + `":1}]}}`},
	} {
		t.Run(name, func(t *testing.T) {
			srv := fakeProm(t, map[string]answer{q: a}, nil)
			_, err := (&Evaluator{DefaultServerAddress: srv.URL}).Idle(context.Background(), esWith(60, promTrigger(q, "1", "")))
			require.Error(t, err)
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, err.Error(), "SECRET")
		})
	}
}

func TestHeaderAllowList(t *testing.T) {
	srv := newRecorder(t, nil)
	e := &Evaluator{DefaultServerAddress: srv.URL}
	for _, h := range []string{"Authorization", "Cookie", "Host", "X-Forwarded-For", "Metadata-Flavor"} {
		tr := promTrigger(q, "1", "")
		tr.Metadata.Headers = map[string]string{h: "x"}
		_, err := e.Idle(context.Background(), esWith(60, tr))
		require.ErrorIs(t, err, ErrNotAllowed, h)
		assert.Contains(t, err.Error(), "only the tenant headers")
	}
	assert.Zero(t, srv.count())
	tr := promTrigger(q, "1", "")
	tr.Metadata.Headers = map[string]string{"x-scope-orgid": "a", "THANOS-TENANT": "b"}
	_, err := e.Idle(context.Background(), esWith(60, tr))
	require.NoError(t, err)
	assert.Equal(t, "a", srv.last().Header.Get("X-Scope-OrgID"))
	assert.Equal(t, "b", srv.last().Header.Get("Thanos-Tenant"))
}

func TestAuthSecretRef(t *testing.T) {
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	secret := func(name string, labelled bool, data map[string]string) *corev1.Secret {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Data: map[string][]byte{}}
		if labelled {
			sec.Labels = map[string]string{LabelTriggerAuth: "true"}
		}
		for k, v := range data {
			sec.Data[k] = []byte(v)
		}
		return sec
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(
		secret("bearer", true, map[string]string{SecretKeyBearerToken: "tok\n"}),
		secret("basic", true, map[string]string{SecretKeyUsername: "u", SecretKeyPassword: "p"}),
		secret("unlabelled", false, map[string]string{SecretKeyBearerToken: "tok"}),
		secret("both", true, map[string]string{SecretKeyBearerToken: "tok", SecretKeyUsername: "u"}),
		secret("empty", true, nil),
	).Build()
	srv := newRecorder(t, nil)
	e := &Evaluator{DefaultServerAddress: srv.URL, Secrets: c}
	tests := []struct {
		secret, wantAuth, wantErr string
	}{
		{secret: "bearer", wantAuth: "Bearer tok"},
		{secret: "basic", wantAuth: "Basic dTpw"},
		{secret: "unlabelled", wantErr: "is not labelled elasti.dev/trigger-auth=true"},
		{secret: "both", wantErr: "must hold either bearerToken, or username and password"},
		{secret: "empty", wantErr: "must hold either"},
		{secret: "missing", wantErr: "Secret shop/missing not found"},
	}
	for _, tt := range tests {
		t.Run(tt.secret, func(t *testing.T) {
			before := srv.count()
			tr := promTrigger(q, "1", "")
			tr.Metadata.AuthSecretRef = &v1alpha1.SecretReference{Name: tt.secret}
			_, err := e.Idle(context.Background(), esWith(60, tr))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Equal(t, before, srv.count(), "no request without its credentials")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantAuth, srv.last().Header.Get("Authorization"))
		})
	}
	t.Run("no Secret reader", func(t *testing.T) {
		tr := promTrigger(q, "1", "")
		tr.Metadata.AuthSecretRef = &v1alpha1.SecretReference{Name: "bearer"}
		_, err := (&Evaluator{DefaultServerAddress: srv.URL}).Idle(context.Background(), esWith(60, tr))
		require.ErrorContains(t, err, "reads no Secrets")
	})
}

func TestNewServers(t *testing.T) {
	for _, bad := range []string{"prometheus:9090", "ftp://h", "http://", "http://u:p@h", "http://h?q=1", "http://h#f"} {
		_, err := NewServers("", []string{bad})
		assert.Error(t, err, bad)
	}
	s, err := NewServers("http://Prom.Monitoring:9090/", []string{"http://prom.monitoring:9090", "https://mimir/prometheus/"})
	require.NoError(t, err)
	assert.Equal(t, "http://prom.monitoring:9090, https://mimir/prometheus", s.describe())
	_, err = (&Evaluator{AllowedServerAddresses: []string{"nope"}}).Idle(context.Background(), esWith(60, triggerAt("http://x")))
	require.ErrorContains(t, err, "the operator's Prometheus addresses")
}

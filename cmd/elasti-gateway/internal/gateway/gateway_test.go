package gateway

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUpstream(t *testing.T) {
	cfg := Config{ClusterDomain: "cluster.local", Namespace: "demo", UpstreamPort: 80}
	cases := []struct {
		name, host, want, wantErr string
	}{
		{name: "bare name", host: "app", want: "app.demo.svc.cluster.local:80"},
		{name: "name and port", host: "app:8080", want: "app.demo.svc.cluster.local:8080"},
		{name: "name.ns", host: "app.other", want: "app.other.svc.cluster.local:80"},
		{name: "name.ns.svc", host: "app.other.svc", want: "app.other.svc.cluster.local:80"},
		{name: "fqdn with dot", host: "App.Other.svc.cluster.local.:81", want: "app.other.svc.cluster.local:81"},
		{name: "external", host: "example.com.evil", wantErr: "expected a Service name"},
		{name: "ip", host: "10.0.0.1", wantErr: "expected a Service name"},
		{name: "bad label", host: "a_b", wantErr: "is not a DNS label"},
		{name: "bad port", host: "app:0", wantErr: "port must be between"},
		{name: "empty", host: "", wantErr: "is not a DNS label"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cfg.Upstream(tc.host)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestUpstreamWithoutNamespaceNeedsOne(t *testing.T) {
	_, err := Config{ClusterDomain: "cluster.local", UpstreamPort: 80}.Upstream("app")
	require.ErrorContains(t, err, "expected a Service name")
}

func FuzzUpstream(f *testing.F) {
	cfg := Config{ClusterDomain: "cluster.local", Namespace: "demo", UpstreamPort: 80}
	for _, s := range []string{"app", "app.ns:80", "a.b.svc.cluster.local", "[::1]:80", "x:y:z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		up, err := cfg.Upstream(host)
		if err == nil {
			assert.Regexp(t, `^[a-z0-9-]+\.[a-z0-9-]+\.svc\.cluster\.local:\d+$`, up)
		}
	})
}

func TestCheckHostRefusesNonServices(t *testing.T) {
	h := checkHost(Config{ClusterDomain: "cluster.local", UpstreamPort: 80}, http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://www.example.com/", nil))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	body, _ := io.ReadAll(rec.Body)
	assert.Contains(t, string(body), "expected a Service name")

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://example.com/-/healthz", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
}

func TestHandlerReportsUpstreamFailure(t *testing.T) {
	h := Handler(logr.Discard(), Config{ClusterDomain: "cluster.local", Namespace: "x", UpstreamPort: 80}, failingTransport{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://app/", nil))
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	assert.Contains(t, rec.Body.String(), "upstream app.x.svc.cluster.local failed: no route")
}

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no route")
}

// captureTransport answers every request itself and remembers it.
type captureTransport struct{ got *http.Request }

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.got = r
	return &http.Response{StatusCode: http.StatusTeapot, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}

func TestHandlerRewritesToServiceName(t *testing.T) {
	cases := []struct{ name, host, wantURLHost, wantHost string }{
		{name: "bare name", host: "app", wantURLHost: "app.demo.svc.cluster.local:80", wantHost: "app.demo.svc.cluster.local"},
		{name: "with port", host: "app.other:8080", wantURLHost: "app.other.svc.cluster.local:8080", wantHost: "app.other.svc.cluster.local:8080"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := &captureTransport{}
			h := Handler(logr.Discard(), Config{ClusterDomain: "cluster.local", Namespace: "demo", UpstreamPort: 80}, tr)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://"+tc.host+"/x?y=1", nil))
			require.NotNil(t, tr.got)
			assert.Equal(t, http.StatusTeapot, rec.Code)
			assert.Equal(t, tc.wantURLHost, tr.got.URL.Host)
			assert.Equal(t, tc.wantHost, tr.got.Host)
			assert.Equal(t, "/x", tr.got.URL.Path)
			assert.Equal(t, tc.host, tr.got.Header.Get("X-Forwarded-Host"))
		})
	}
}

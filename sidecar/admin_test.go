package sidecar

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/sidecar/stuboperator"
)

func adminGet(t *testing.T, s *Sidecar, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.AdminAddr().String() + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestNotReadyUntilSnapshot: with the operator refusing the token, the sidecar is alive but not
// ready; once the token file holds the right token (kubelet rotation), it syncs and is ready.
func TestNotReadyUntilSnapshot(t *testing.T) {
	op := stuboperator.Start("rotated-token")
	defer op.Close()
	cfg := testConfig(t, op)
	s, err := New(cfg, discard())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); _ = s.Wait() }()
	require.NoError(t, s.Start(ctx))

	code, _ := adminGet(t, s, "/livez")
	assert.Equal(t, http.StatusOK, code)
	code, body := adminGet(t, s, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "waiting for the first snapshot")

	require.NoError(t, writeFile(cfg.TokenFile, "rotated-token"))
	require.Eventually(t, func() bool { code, _ := adminGet(t, s, "/readyz"); return code == http.StatusOK }, 10*time.Second, 5*time.Millisecond)
}

func TestMetricsEndpoint(t *testing.T) {
	tg := newTarget(t, echo())
	op := stuboperator.Start(testToken, service(tg, false))
	defer op.Close()
	s := startSidecar(t, testConfig(t, op))
	held := getAsync(s, "orders.shop")
	require.Eventually(t, func() bool { return s.queue.Waiting("shop/orders") == 1 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return len(op.RequestCounts()) == 1 }, 5*time.Second, time.Millisecond)
	_, metrics := adminGet(t, s, "/metrics")
	for _, want := range []string{
		`elasti_sidecar_held_requests{namespace="shop",service="orders"} 1`,
		`elasti_sidecar_stream_connected 1`,
		`elasti_sidecar_stream_services 1`,
		`elasti_sidecar_stream_version 1`,
	} {
		assert.Contains(t, metrics, want)
	}
	require.NoError(t, tg.start())
	op.SetService(service(tg, true))
	require.Equal(t, http.StatusOK, (<-held).status)
	_, _, _ = get(context.Background(), s, "nowhere.example")
	require.Eventually(t, func() bool {
		_, m := adminGet(t, s, "/metrics")
		return strings.Contains(m, `elasti_sidecar_request_count_reports_total{namespace="shop",result="ok",service="orders"} 1`)
	}, 5*time.Second, 5*time.Millisecond)
	_, metrics = adminGet(t, s, "/metrics")
	for _, want := range []string{
		`elasti_sidecar_held_requests{namespace="shop",service="orders"} 0`,
		`elasti_sidecar_requests_total{code_class="2xx",held="true",namespace="shop",service="orders"} 1`,
		`elasti_sidecar_hold_duration_seconds_count{namespace="shop",service="orders"} 1`,
		`elasti_sidecar_requests_rejected_total{namespace="",reason="unknown_host",service=""} 1`,
	} {
		assert.Contains(t, metrics, want)
	}

	// The service leaves the stream: its series go.
	op.RemoveService("shop/orders")
	require.Eventually(t, func() bool {
		_, m := adminGet(t, s, "/metrics")
		return !strings.Contains(m, `service="orders"`)
	}, 5*time.Second, 5*time.Millisecond)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "defaults", mutate: func(*Config) {}},
		{name: "http operator", mutate: func(c *Config) { c.OperatorURL = "http://op:8013" }, wantErr: "must be an https URL"},
		{name: "http operator insecure", mutate: func(c *Config) { c.OperatorURL = "http://op:8013"; c.InsecureSkipVerify = true }},
		{name: "no host", mutate: func(c *Config) { c.OperatorURL = "https://" }, wantErr: "must be an https URL"},
		{name: "same ports", mutate: func(c *Config) { c.AdminPort = c.ProxyPort }, wantErr: "must differ"},
		{name: "bad port", mutate: func(c *Config) { c.ProxyPort = 70000 }, wantErr: "--proxy-port 70000"},
		{name: "bounds", mutate: func(c *Config) { c.MaxHeld = 0 }, wantErr: "at least 1"},
		{name: "durations", mutate: func(c *Config) { c.ProbeInterval = 0 }, wantErr: "--probe-interval must be positive"},
		{name: "token", mutate: func(c *Config) { c.TokenFile = "" }, wantErr: "--token-file is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

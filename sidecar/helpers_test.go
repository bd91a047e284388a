package sidecar

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/internal/freeport"
	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/stuboperator"
)

const testToken = "test-token"

// testConfig is a configuration with every listener on a free loopback port and short timings.
func testConfig(t testing.TB, op *stuboperator.Operator) Config {
	t.Helper()
	var cfg Config
	cfg.BindFlags(newFlagSet())
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600))
	cfg.OperatorURL = op.URL()
	cfg.TokenFile = tokenFile
	cfg.CAPEM = string(op.CAPEM())
	cfg.BindAddress = "127.0.0.1"
	cfg.ProxyPort, cfg.AdminPort = 0, 0
	cfg.ProbeInterval = 5 * time.Millisecond
	cfg.ReportRetry = 10 * time.Millisecond
	cfg.StreamMinBackoff, cfg.StreamMaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	cfg.ConnectRetryBackoff = 5 * time.Millisecond
	cfg.DrainTimeout = 5 * time.Second
	cfg.ShutdownDelay = 0
	return cfg
}

func discard() logr.Logger { return logr.Discard() }

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// startSidecar starts a sidecar and waits until it has applied the operator's snapshot.
func startSidecar(t testing.TB, cfg Config) *Sidecar {
	t.Helper()
	log := logr.Discard()
	if tt, ok := t.(*testing.T); ok && testing.Verbose() {
		log = testr.NewWithOptions(tt, testr.Options{Verbosity: 1})
	}
	s, err := New(cfg, log)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, s.Start(ctx))
	t.Cleanup(func() { cancel(); _ = s.Wait() })
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + s.AdminAddr().String() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 5*time.Millisecond)
	return s
}

// target is an upstream that can be started late on a fixed port (connection refused until then).
type target struct {
	addr    string
	port    int32
	handler http.Handler
	mu      sync.Mutex
	srv     *http.Server
}

func newTarget(t testing.TB, h http.Handler) *target {
	t.Helper()
	n := freeport.Loopback(t)
	tg := &target{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(n)), port: int32(n), handler: h}
	t.Cleanup(tg.stop)
	return tg
}

// start begins serving (h2c too).
func (tg *target) start() error {
	ln, err := net.Listen("tcp", tg.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", tg.addr, err)
	}
	srv := &http.Server{Handler: tg.handler, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	tg.mu.Lock()
	tg.srv = srv
	tg.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

func (tg *target) stop() {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if tg.srv != nil {
		_ = tg.srv.Close()
	}
}

// service is shop/orders with one endpoint on the target, ready or not.
func service(tg *target, ready bool) stream.Service {
	return stream.Service{
		Namespace: "shop", Name: "orders", Mode: stream.ModeProxy,
		ClusterIPs: []string{"10.96.0.10", "fd00::10"},
		Ports:      []stream.Port{{Name: "http", Port: 80, Protocol: "TCP"}},
		Endpoints:  []stream.Endpoint{{Pod: "orders-0", IP: "127.0.0.1", Ready: ready, Ports: map[string]int32{"http": tg.port}}},
	}
}

// echo answers with the request's method, Host and X-Seq, and counts the body.
func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Seq", r.Header.Get("X-Seq"))
		w.Header().Set("X-Got-Host", r.Host)
		w.Header().Set("X-Got-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Got-Proto", r.Header.Get("X-Forwarded-Proto"))
		fmt.Fprintf(w, "%s %s %d", r.Method, r.Host, n)
	})
}

// get sends a GET with Host set.
func get(ctx context.Context, s *Sidecar, host string) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.ProxyAddr().String()+"/", nil)
	if err != nil {
		return nil, "", err
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

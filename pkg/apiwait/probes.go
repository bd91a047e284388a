package apiwait

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// WithProbes runs wait while serving the component's health probes on addr: /healthz answers 200
// (the process is alive and doing what it should: waiting), /readyz and anything else 503. Without
// this, the kubelet's liveness probe finds nothing listening while the component waits for the
// API server, and kills it (the restart the wait is there to avoid). The listener is closed before
// WithProbes returns, so the manager can bind addr next. An empty addr or "0" serves nothing.
func WithProbes(addr string, wait func() error) error {
	if addr == "" || addr == "0" {
		return wait()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for health probes on %s while waiting for the API server: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok: waiting for the API server\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "waiting for the API server", http.StatusServiceUnavailable)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	werr := wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return errors.Join(werr, fmt.Errorf("serving health probes while waiting: %w", err))
	}
	return werr
}

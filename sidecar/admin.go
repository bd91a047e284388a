package sidecar

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminMux serves /livez, /readyz and /metrics.
//
// /readyz is ready once a snapshot from the operator has been applied, and stays ready when
// the stream later drops: the last view keeps working, and the sidecar shares its pod with the
// gateway, whose traffic must not stop because the operator restarts. It turns unready while
// draining.
func (s *Sidecar) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-s.draining:
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		default:
		}
		if !s.reg.Synced() {
			http.Error(w, "waiting for the first snapshot from the operator stream", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{Registry: s.metrics.Registry}))
	return mux
}

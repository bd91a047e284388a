package demoapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/websocket"
)

// Config configures the demo app.
type Config struct {
	// Addr is the listen address.
	Addr string
	// StartupDelay is how long Run waits before it listens.
	StartupDelay time.Duration
	// Message is what / answers.
	Message string
	// ShutdownDelay is how long the app keeps serving after SIGTERM before it stops accepting
	// connections. Kubernetes removes a terminating pod from its Service's endpoints at its own
	// pace (endpoint controller, then kube-proxy on every node); an app that closes its listener at
	// once refuses the connections still routed to it meanwhile. Every well-behaved app does this
	// (or has a preStop sleep); Elasti cannot do it for the app.
	ShutdownDelay time.Duration
}

// maxStreamLines bounds /stream so that one request cannot hold a connection for ever.
const maxStreamLines = 1000

// Server is the demo app's HTTP handler.
type Server struct {
	log      logr.Logger
	message  string
	started  time.Time
	first    sync.Once
	requests *prometheus.CounterVec
	mux      *http.ServeMux
}

// NewServer returns the handler with its own metrics registry.
func NewServer(log logr.Logger, message string) *Server {
	s := &Server{log: log, message: message, started: time.Now(), mux: http.NewServeMux()}
	reg := prometheus.NewRegistry()
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "demo_requests_total",
		Help: "Requests answered by the demo app, by route.",
	}, []string{"path"})
	reg.MustRegister(s.requests, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))

	s.route("/", s.hello)
	s.route("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	s.route("/echo", s.echo)
	// /peer answers the address the request's connection came from: tests tell a connection
	// through a sidecar from one straight to the pod by it.
	s.route("/peer", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.RemoteAddr) })
	s.route("/stream", s.stream)
	s.mux.Handle("/ws", s.count("/ws", websocket.Handler(echoWebSocket)))
	s.mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return s
}

func (s *Server) route(path string, h http.HandlerFunc) { s.mux.Handle(path, s.count(path, h)) }

// count counts a request under its route (a fixed set, so the label stays bounded) and logs the
// first answer to anything but a health probe.
func (s *Server) count(path string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		label := path
		if path == "/" && r.URL.Path != "/" {
			label = "other"
		}
		s.requests.WithLabelValues(label).Inc()
		if path != "/healthz" {
			// Probes do not count: "first answer" marks the first request a client sent.
			s.first.Do(func() {
				s.log.Info("first answer", "path", r.URL.Path, "sinceStart", time.Since(s.started).String())
			})
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) hello(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	host, _ := os.Hostname()
	_, _ = fmt.Fprintf(w, "%s (pod %s)\n", s.message, host)
}

func (s *Server) echo(w http.ResponseWriter, r *http.Request) {
	// Echoing writes the response while the body is still being read.
	_ = http.NewResponseController(w).EnableFullDuplex()
	if ct := r.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	if _, err := io.Copy(w, r.Body); err != nil {
		s.log.V(1).Info("echo interrupted", "err", err.Error())
	}
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	n, interval, err := streamParams(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i := 1; i <= n; i++ {
		if i > 1 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(interval):
			}
		}
		if _, err := fmt.Fprintf(w, "data: %d %s\n\n", i, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// streamParams reads ?n= (default 5, at most maxStreamLines) and ?interval= (default 200ms).
func streamParams(r *http.Request) (int, time.Duration, error) {
	n, interval := 5, 200*time.Millisecond
	if v := r.URL.Query().Get("n"); v != "" {
		parsed, err := strconv.Atoi(v)
		if err != nil || parsed < 1 || parsed > maxStreamLines {
			return 0, 0, fmt.Errorf("n must be an integer between 1 and %d, got %q", maxStreamLines, v)
		}
		n = parsed
	}
	if v := r.URL.Query().Get("interval"); v != "" {
		parsed, err := time.ParseDuration(v)
		if err != nil || parsed < 0 || parsed > time.Minute {
			return 0, 0, fmt.Errorf("interval must be a duration between 0s and 1m, got %q", v)
		}
		interval = parsed
	}
	return n, interval, nil
}

func echoWebSocket(ws *websocket.Conn) {
	defer func() { _ = ws.Close() }()
	_, _ = io.Copy(ws, ws)
}

// Run waits cfg.StartupDelay, then serves until ctx ends.
func Run(ctx context.Context, log logr.Logger, cfg Config) error {
	s := NewServer(log, cfg.Message)
	log.Info("starting", "startupDelay", cfg.StartupDelay.String())
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(cfg.StartupDelay):
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	log.Info("listening", "addr", ln.Addr().String(), "sinceStart", time.Since(s.started).String())
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		if cfg.ShutdownDelay > 0 {
			log.Info("terminating: still serving while endpoints converge", "for", cfg.ShutdownDelay.String())
			time.Sleep(cfg.ShutdownDelay)
		}
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

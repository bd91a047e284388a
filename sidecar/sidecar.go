package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-logr/logr"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/internal/credentials"
	"github.com/elasti-dev/elasti/sidecar/internal/hold"
	"github.com/elasti-dev/elasti/sidecar/internal/metrics"
	"github.com/elasti-dev/elasti/sidecar/internal/probe"
	"github.com/elasti-dev/elasti/sidecar/internal/proxy"
	"github.com/elasti-dev/elasti/sidecar/internal/registry"
	"github.com/elasti-dev/elasti/sidecar/internal/report"
	"github.com/elasti-dev/elasti/sidecar/internal/streamclient"
)

// Sidecar is a configured sidecar. Start binds the listeners; Wait blocks until it has shut down.
type Sidecar struct {
	cfg     Config
	log     logr.Logger
	metrics *metrics.Metrics
	reg     *registry.Registry
	queue   *hold.Queue
	handler *proxy.Handler
	stream  *streamclient.Client
	reports *report.Client
	ports   *portListeners

	proxyLn, adminLn net.Listener
	proxySrv         *http.Server
	adminSrv         *http.Server
	draining         chan struct{}
	done             chan error
	// bg is the context of everything that must outlive the drain (stream, probes, reports).
	bg     context.Context
	stopBG context.CancelFunc
}

// Run starts the sidecar and returns when ctx is done and the drain has finished.
func Run(ctx context.Context, cfg Config, log logr.Logger) error {
	s, err := New(cfg, log)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	return s.Wait()
}

// New builds a sidecar from a validated configuration.
func New(cfg Config, log logr.Logger) (*Sidecar, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	applyMemoryLimit(log, cgroupMemoryMax)
	if cfg.InsecureSkipVerify {
		log.Info("WARNING: --insecure-skip-verify is set: the operator's certificate is NOT verified; use this only in tests")
	}
	trust, err := credentials.NewTrust([]byte(cfg.CAPEM), cfg.CAFile)
	if err != nil {
		return nil, err
	}
	tlsCfg := credentials.TLSConfig(trust, cfg.InsecureSkipVerify)
	s := &Sidecar{cfg: cfg, log: log, metrics: metrics.New(), queue: hold.New(cfg.MaxHeldPerService, cfg.MaxHeld),
		draining: make(chan struct{}), done: make(chan error, 1)}
	s.bg, s.stopBG = context.WithCancel(context.Background())
	s.reg = registry.New(cfg.ClusterDomain, s.changed)
	// Stream, acks and reports share one HTTP/2 connection per operator replica; pings find a
	// silently dead connection before the reports queued on it time out.
	opTransport := &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true, IdleConnTimeout: 90 * time.Second,
		TLSHandshakeTimeout: cfg.OperatorTimeout,
		HTTP2:               &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 5 * time.Second}}
	token := credentials.TokenFile(cfg.TokenFile)
	s.reports = report.New(s.bg, log.WithName("operator-client"), report.Options{
		OperatorURL: cfg.OperatorURL, HTTPClient: &http.Client{Transport: opTransport, Timeout: cfg.OperatorTimeout},
		Authorize: token.Authorize, Waiting: s.queue.Waiting, RetryDuration: cfg.ReportRetry, MaxRetryDuration: cfg.ReportMaxRetry,
		ResendInterval: cfg.ReportResend, ActivityInterval: cfg.ActivityInterval, Observe: s.metrics.Report,
	})
	s.stream = streamclient.New(log.WithName("stream"), streamclient.Options{
		URL: cfg.OperatorURL, HTTPClient: &http.Client{Transport: opTransport}, Authorize: token.Authorize,
		Apply: s.apply, Recheck: s.recheck, HeartbeatTimeout: cfg.HeartbeatTimeout, MinBackoff: cfg.StreamMinBackoff,
		MaxBackoff: cfg.StreamMaxBackoff, AckTimeout: cfg.OperatorTimeout, OnState: s.metrics.StreamConnected,
		OnApplied: func(v uint64, keys []string) { s.metrics.StreamApplied(v, len(keys)) },
	})
	prober := &probe.Manager{Interval: cfg.ProbeInterval, Registry: s.reg, Waiting: s.queue.Waiting,
		Prober: probe.NewProber(), Observe: s.metrics.Probe, Log: log.WithName("probe")}
	s.handler = proxy.New(s.bg, proxy.Options{Registry: s.reg, Queue: s.queue, Reporter: s.reports, Prober: prober,
		Metrics: s.metrics, Log: log.WithName("proxy"), HoldTimeout: cfg.HoldTimeout,
		RetryAfter: cfg.RetryAfter, DialTimeout: cfg.DialTimeout, ConnectRetries: cfg.ConnectRetries,
		ConnectRetryBackoff: cfg.ConnectRetryBackoff, MaxIdleConnsPerHost: cfg.MaxIdleConnsPerHost})
	s.ports = &portListeners{bind: cfg.BindAddress, newServer: s.newProxyServer, handler: s.handler.Bound,
		closeWait: cfg.DrainTimeout, log: log.WithName("ports"), onError: func(int32, error) { s.metrics.ListenError() },
		open: map[int32]*portListener{}, failed: map[int32]string{}}
	return s, nil
}

// apply applies one stream message, then opens and closes sidecar ports to match, and returns
// the keys to acknowledge: only services whose every sidecar port is open. Heartbeats retry
// ports that could not be opened before.
func (s *Sidecar) apply(msg stream.Message) ([]string, error) {
	keys, err := s.reg.Apply(msg)
	if err != nil {
		return nil, err
	}
	return s.openPorts(keys), nil
}

// recheck retries sidecar ports that could not be opened (on every heartbeat).
func (s *Sidecar) recheck() []string { return s.openPorts(s.reg.Keys()) }

// openPorts syncs the sidecar ports with the registry and returns the keys among keys whose
// every sidecar port is open.
func (s *Sidecar) openPorts(keys []string) []string {
	complete := s.ports.Sync(s.reg)
	s.metrics.SidecarPorts(len(s.ports.Ports()))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if complete[k] {
			out = append(out, k)
		}
	}
	return out
}

// changed is the registry's listener: wake the held requests of every changed service, and
// forget the state of services that left the stream.
func (s *Sidecar) changed(keys []string) {
	for _, k := range keys {
		s.queue.Wake(k)
		if _, ok := s.reg.Get(k); !ok {
			s.metrics.Forget(k)
			s.reports.Forget(k)
			s.handler.Forget(k)
		}
	}
}

// ProxyAddr and AdminAddr are the bound addresses (after Start). ProxyAddr is the direct
// listener (service named by Host); SidecarPorts lists the sidecar ports open now.
func (s *Sidecar) ProxyAddr() net.Addr { return s.proxyLn.Addr() }

// SidecarPorts returns the sidecar ports open now, sorted.
func (s *Sidecar) SidecarPorts() []int32 { return s.ports.Ports() }
func (s *Sidecar) AdminAddr() net.Addr   { return s.adminLn.Addr() }

// Start binds both listeners and starts serving; shutdown begins when ctx is done.
func (s *Sidecar) Start(ctx context.Context) error {
	var err error
	if s.proxyLn, err = net.Listen("tcp", net.JoinHostPort(s.cfg.BindAddress, strconv.Itoa(s.cfg.ProxyPort))); err != nil {
		return fmt.Errorf("binding the proxy listener: %w", err)
	}
	if s.adminLn, err = net.Listen("tcp", net.JoinHostPort(s.cfg.BindAddress, strconv.Itoa(s.cfg.AdminPort))); err != nil {
		s.proxyLn.Close()
		return fmt.Errorf("binding the admin listener: %w", err)
	}
	s.proxySrv = s.newProxyServer(s.handler)
	s.adminSrv = &http.Server{Handler: s.adminMux(), ReadHeaderTimeout: 5 * time.Second}
	go s.stream.Run(s.bg)
	proxyErr := make(chan error, 1)
	go func() { proxyErr <- s.proxySrv.Serve(s.proxyLn) }()
	go func() { _ = s.adminSrv.Serve(s.adminLn) }()
	s.log.Info("sidecar started", "proxy", s.proxyLn.Addr().String(), "admin", s.adminLn.Addr().String(), "operator", s.cfg.OperatorURL)
	go func() {
		select {
		case <-ctx.Done():
			s.done <- s.shutdown()
		case err := <-proxyErr:
			s.stopBG()
			s.done <- fmt.Errorf("proxy listener: %w", err)
		}
	}()
	return nil
}

// Wait blocks until the sidecar has shut down.
func (s *Sidecar) Wait() error { return <-s.done }

func (s *Sidecar) newProxyServer(h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, IdleTimeout: s.cfg.IdleTimeout,
		ErrorLog: nil, MaxHeaderBytes: 1 << 20}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	// A gateway may multiplex many held requests over one h2c connection; the hold queue, not
	// the stream limit, is what bounds them.
	srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: max(250, s.cfg.MaxHeld),
		MaxReceiveBufferPerConnection: h2ReceiveBufferPerConnection, MaxReceiveBufferPerStream: h2ReceiveBufferPerStream}
	return srv
}

// The HTTP/2 receive windows. Go's HTTP/2 server buffers what a client sends, up to these
// windows, while the handler has not read the body, which is the case for every held request:
// with the defaults (1 MiB per connection and per stream) 150 held h2c uploads grew the sidecar
// from 14 to 180 MiB, past the injected 128Mi limit. A held stream costs at most the stream
// window, and all of a connection's held streams at most the connection window (64 KiB is the
// smallest Go accepts). The price is upload throughput per stream (a window per round trip):
// ample in a cluster, where the round trip to a gateway is well under a millisecond, and
// HTTP/1 bodies (what gateways usually send) are not affected.
const (
	h2ReceiveBufferPerConnection = 256 << 10
	h2ReceiveBufferPerStream     = 64 << 10
)

// shutdown leaves the Service endpoints first, then drains. /readyz turns 503 at once, but every
// listener keeps accepting for --shutdown-delay: the operator marks the sidecar's endpoint not
// ready in every proxy EndpointSlice as soon as its pod is deleted, and proxies that read those
// slices (kube-proxy, ingress controllers) must stop choosing it before it stops answering,
// or they dial a vanished address. Then it stops accepting, lets held and in-flight requests
// finish for up to the drain timeout, answers what is still held with 503 and closes what remains.
func (s *Sidecar) shutdown() error {
	close(s.draining)
	if s.cfg.ShutdownDelay > 0 {
		s.log.Info("leaving the endpoints before draining", "delay", s.cfg.ShutdownDelay)
		time.Sleep(s.cfg.ShutdownDelay)
	}
	servers := append(s.ports.servers(), s.proxySrv)
	s.log.Info("draining", "held", s.queue.Total(), "timeout", s.cfg.DrainTimeout, "listeners", len(servers))
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	if errors.Is(shutdownAll(ctx, servers), context.DeadlineExceeded) {
		s.log.Info("drain timeout reached; answering held requests with 503", "held", s.queue.Total())
		s.handler.Abort()
		grace, cancelGrace := context.WithTimeout(context.Background(), time.Second)
		if shutdownAll(grace, servers) != nil {
			for _, srv := range servers {
				_ = srv.Close()
			}
		}
		cancelGrace()
	}
	s.stopBG()
	adminCtx, cancelAdmin := context.WithTimeout(context.Background(), time.Second)
	defer cancelAdmin()
	_ = s.adminSrv.Shutdown(adminCtx)
	s.log.Info("sidecar stopped")
	return nil
}

// shutdownAll shuts the servers down concurrently and returns the first error.
func shutdownAll(ctx context.Context, servers []*http.Server) error {
	errs := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errs <- srv.Shutdown(ctx) }()
	}
	var first error
	for range servers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

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

	"github.com/elasti-dev/elasti/sidecar/internal/credentials"
	"github.com/elasti-dev/elasti/sidecar/internal/hold"
	"github.com/elasti-dev/elasti/sidecar/internal/metrics"
	"github.com/elasti-dev/elasti/sidecar/internal/operator"
	"github.com/elasti-dev/elasti/sidecar/internal/probe"
	"github.com/elasti-dev/elasti/sidecar/internal/proxy"
	"github.com/elasti-dev/elasti/sidecar/internal/registry"
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
	reports *operator.Client

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
	s.reports = operator.New(s.bg, log.WithName("operator-client"), operator.Options{
		OperatorURL: cfg.OperatorURL, HTTPClient: &http.Client{Transport: opTransport, Timeout: cfg.OperatorTimeout},
		Authorize: token.Authorize, Waiting: s.queue.Waiting, RetryDuration: cfg.ReportRetry, MaxRetryDuration: cfg.ReportMaxRetry,
		ResendInterval: cfg.ReportResend, ActivityInterval: cfg.ActivityInterval, Observe: s.metrics.Report,
	})
	s.stream = streamclient.New(log.WithName("stream"), streamclient.Options{
		URL: cfg.OperatorURL, HTTPClient: &http.Client{Transport: opTransport}, Authorize: token.Authorize,
		Apply: s.reg.Apply, HeartbeatTimeout: cfg.HeartbeatTimeout, MinBackoff: cfg.StreamMinBackoff,
		MaxBackoff: cfg.StreamMaxBackoff, AckTimeout: cfg.OperatorTimeout, OnState: s.metrics.StreamConnected,
		OnApplied: func(v uint64, keys []string) { s.metrics.StreamApplied(v, len(keys)) },
	})
	prober := &probe.Manager{Interval: cfg.ProbeInterval, Registry: s.reg, Waiting: s.queue.Waiting,
		Prober: probe.NewProber(), Observe: s.metrics.Probe, Log: log.WithName("probe")}
	s.handler = proxy.New(s.bg, proxy.Options{Registry: s.reg, Queue: s.queue, Reporter: s.reports, Prober: prober,
		Metrics: s.metrics, Log: log.WithName("proxy"), ServiceHeader: cfg.ServiceHeader, HoldTimeout: cfg.HoldTimeout,
		RetryAfter: cfg.RetryAfter, DialTimeout: cfg.DialTimeout, ConnectRetries: cfg.ConnectRetries,
		ConnectRetryBackoff: cfg.ConnectRetryBackoff, MaxIdleConnsPerHost: cfg.MaxIdleConnsPerHost})
	return s, nil
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

// ProxyAddr and AdminAddr are the bound addresses (after Start).
func (s *Sidecar) ProxyAddr() net.Addr { return s.proxyLn.Addr() }
func (s *Sidecar) AdminAddr() net.Addr { return s.adminLn.Addr() }

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
	s.proxySrv = s.newProxyServer()
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

func (s *Sidecar) newProxyServer() *http.Server {
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, IdleTimeout: s.cfg.IdleTimeout,
		ErrorLog: nil, MaxHeaderBytes: 1 << 20}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	// A gateway may multiplex many held requests over one h2c connection; the hold queue, not
	// the stream limit, is what bounds them.
	srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: max(250, s.cfg.MaxHeld)}
	return srv
}

// shutdown stops accepting, lets held and in-flight requests finish for up to the drain
// timeout, then answers what is still held with 503 and closes what remains.
func (s *Sidecar) shutdown() error {
	close(s.draining)
	s.log.Info("draining", "held", s.queue.Total(), "timeout", s.cfg.DrainTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	err := s.proxySrv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Info("drain timeout reached; answering held requests with 503", "held", s.queue.Total())
		s.handler.Abort()
		grace, cancelGrace := context.WithTimeout(context.Background(), time.Second)
		if s.proxySrv.Shutdown(grace) != nil {
			_ = s.proxySrv.Close()
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

package elastiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	ackstore "github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/operator/internal/auth"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/scaling"
	"github.com/elasti-dev/elasti/pkg/stream"
)

// Authenticator identifies the sidecar that sent a request (*auth.Authenticator). An error
// wrapping auth.ErrUnauthenticated is answered 401, any other error 503.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (auth.Caller, error)
}

// AckRecorder records which services a sidecar acknowledged and returns how many changed
// (*acks.Store: the import is named ackstore here, beside the acks metric).
type AckRecorder interface {
	Record(ctx context.Context, sidecar ackstore.Sidecar, services []string) (int, error)
	// Change applies a change Ack: added acknowledged, removed no longer.
	Change(ctx context.Context, sidecar ackstore.Sidecar, added, removed []string) (int, error)
	// Connect and Disconnect record a stream's start and end (see package acks).
	Connect(ctx context.Context, sidecar ackstore.Sidecar, instance, stream string) error
	Disconnect(ctx context.Context, sidecar ackstore.Sidecar, stream string) error
}

// ScaleUpper scales a target from zero (*scaling.ScaleHandler): to want replicas, and with raise
// also a target already up with fewer.
type ScaleUpper interface {
	ScaleUpTo(ctx context.Context, es *v1alpha1.ElastiService, want int32, raise bool) (scaling.ScaleResult, error)
}

// Options configure a Server. From a manager:
//
//	elastiserver.New(elastiserver.Options{
//		CertDir: certDir, Client: mgr.GetClient(), Writer: mgr.GetClient(), Cache: mgr.GetCache(),
//		ScaleHandler: scaleHandler, Authenticator: authenticator, Logger: ctrl.Log.WithName("elastiserver"),
//	})
type Options struct {
	// BindAddress is where to listen; default ":8013".
	BindAddress string
	// CertDir holds CertName and KeyName (default tls.crt and tls.key); they are reloaded when
	// they change (cert-manager or the self-managed CA rotates them).
	CertDir, CertName, KeyName string
	// Insecure serves plain HTTP. For tests only: sidecar tokens must not cross a network in clear.
	Insecure bool
	// Client reads ElastiServices, Services, EndpointSlices and Pods, normally from the cache
	// (mgr.GetClient()).
	Client client.Client
	// ServiceIndex is the name of a field index of Client's cache on ElastiServices by
	// spec.service (controller.IndexService, registered by the controller's setup): a lookup then
	// reads the ElastiServices naming one Service instead of listing its namespace. Empty lists
	// the namespace.
	ServiceIndex string
	// APIReader (mgr.GetAPIReader()), when set, confirms a RequestCount's unknown service
	// against the API server before answering 404, so an ElastiService created a moment ago
	// that this replica's cache has not seen yet still wakes its target.
	APIReader client.Reader
	// Writer patches ElastiService annotations; default Client.
	Writer client.Writer
	// Acks records sidecar acknowledgements (*acks.Store); default an acks.Store over Client in
	// names.SystemNamespace.
	Acks AckRecorder
	// Cache is where event handlers are added to keep the streams up to date (mgr.GetCache()).
	// Without it (handler unit tests) the stream never changes after its snapshot.
	Cache cache.Cache
	// ScaleHandler scales targets from zero.
	ScaleHandler ScaleUpper
	// Authenticator identifies sidecars.
	Authenticator Authenticator
	// ClusterDomain completes the service host names; default cluster.local.
	ClusterDomain string
	// Logger; default a discarding logger.
	Logger logr.Logger
	// RateLimit and RateBurst bound RequestCounts per caller pod per service; default 5/s, burst 10.
	RateLimit rate.Limit
	RateBurst int
	// ActivityInterval: the last-activity annotation of one ElastiService is patched at most this
	// often; default 5s.
	ActivityInterval time.Duration
	// Traffic, when set, counts the requests sidecars report as forwarded (RequestCount.Forwarded)
	// for the traffic trigger (*traffic.Ledger).
	Traffic TrafficCounter
	// HeartbeatInterval of the streams; default stream.HeartbeatInterval.
	HeartbeatInterval time.Duration
	// WriteTimeout bounds the write of one stream message to a slow sidecar; default 30s.
	WriteTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// TrafficCounter adds forwarded requests reported for a service ("namespace/name") at a time.
type TrafficCounter interface {
	Add(key string, n int64, at time.Time)
}

// Server is the elastiserver: a manager.Runnable that every replica runs.
type Server struct {
	opts     Options
	log      logr.Logger
	state    *state
	limiter  *limiter
	activity *activity
	bursts   *bursts
	handler  http.Handler
	// ready is closed when the first full build of the stream state is done.
	ready chan struct{}
	// addr is the listener's address once Start listens.
	addr atomic.Pointer[string]
	// stopping is set when the server shuts down: the streams it ends are not the sidecars'
	// doing, so they are not recorded as disconnections.
	stopping atomic.Bool
}

var (
	_ manager.Runnable               = (*Server)(nil)
	_ manager.LeaderElectionRunnable = (*Server)(nil)
)

// New validates opts, fills defaults and returns a Server.
func New(opts Options) (*Server, error) {
	if err := opts.complete(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		state:    newState(),
		limiter:  newLimiter(opts.RateLimit, opts.RateBurst, opts.Now),
		activity: newActivity(opts.ActivityInterval, opts.Now),
		bursts:   newBursts(),
		ready:    make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc(stream.IncomingRequestPath, s.serveIncomingRequest)
	mux.HandleFunc(stream.StreamPath, s.serveStream)
	mux.HandleFunc(stream.AckPath, s.serveAck)
	s.handler = mux
	if opts.Cache == nil {
		close(s.ready) // nothing to wait for: the state changes only through tests
	}
	return s, nil
}

func (o *Options) complete() error {
	switch {
	case o.Client == nil:
		return errors.New("elastiserver: Options.Client is required")
	case o.ScaleHandler == nil:
		return errors.New("elastiserver: Options.ScaleHandler is required")
	case o.Authenticator == nil:
		return errors.New("elastiserver: Options.Authenticator is required")
	case !o.Insecure && o.CertDir == "":
		return errors.New("elastiserver: Options.CertDir is required (Insecure is for tests only)")
	}
	if o.Writer == nil {
		o.Writer = o.Client
	}
	if o.Acks == nil {
		o.Acks = &ackstore.Store{Client: o.Client, Namespace: names.SystemNamespace}
	}
	o.BindAddress = or(o.BindAddress, fmt.Sprintf(":%d", names.DefaultElastiServerPort))
	o.CertName = or(o.CertName, "tls.crt")
	o.KeyName = or(o.KeyName, "tls.key")
	o.ClusterDomain = or(o.ClusterDomain, names.DefaultClusterDomain)
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 5
	}
	if o.RateBurst <= 0 {
		o.RateBurst = 10
	}
	o.ActivityInterval = orDuration(o.ActivityInterval, 5*time.Second)
	o.HeartbeatInterval = orDuration(o.HeartbeatInterval, stream.HeartbeatInterval)
	o.WriteTimeout = orDuration(o.WriteTimeout, 30*time.Second)
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Handler returns the HTTP handler (for tests and for embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Addr returns the address the server listens on ("" before Start listens), e.g. to learn the
// port chosen for BindAddress ":0".
func (s *Server) Addr() string {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// NeedLeaderElection is false: every replica serves sidecars.
func (s *Server) NeedLeaderElection() bool { return false }

// Start keeps the stream state in sync with the cache, then serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	if s.opts.Cache != nil {
		if err := s.startWatching(ctx); err != nil {
			return err
		}
	}
	ln, err := s.listen(ctx)
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	s.addr.Store(&addr)
	return s.serve(ctx, ln)
}

// listen opens the listener, wrapped in TLS with a reloading certificate unless Insecure.
func (s *Server) listen(ctx context.Context) (net.Listener, error) {
	ln, err := net.Listen("tcp", s.opts.BindAddress)
	if err != nil {
		return nil, fmt.Errorf("elastiserver: listening on %s: %w", s.opts.BindAddress, err)
	}
	if s.opts.Insecure {
		s.log.Info("serving WITHOUT TLS (tests only)", "address", ln.Addr().String())
		return ln, nil
	}
	cw, err := certwatcher.New(filepath.Join(s.opts.CertDir, s.opts.CertName), filepath.Join(s.opts.CertDir, s.opts.KeyName))
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("elastiserver: loading certificate from %s: %w", s.opts.CertDir, err)
	}
	go func() {
		if err := cw.Start(ctx); err != nil {
			s.log.Error(err, "certificate watcher stopped")
		}
	}()
	s.log.Info("serving TLS", "address", ln.Addr().String(), "certDir", s.opts.CertDir)
	return tls.NewListener(ln, &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: cw.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}), nil
}

// serve runs the HTTP server on ln until ctx ends. Streams never go idle, so they are ended by
// cancelling their base context before the graceful shutdown.
func (s *Server) serve(ctx context.Context, ln net.Listener) error {
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout: it would cancel the streams' contexts. POST handlers set their own
		// read deadline (bodyReadTimeout).
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 16 << 10,
		BaseContext:    func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("elastiserver: serving: %w", err)
	case <-ctx.Done():
	}
	s.stopping.Store(true)
	cancel()
	shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("elastiserver: shutting down: %w", err)
	}
	return nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func orDuration(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

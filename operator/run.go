package operator

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/operator/internal/auth"
	"github.com/elasti-dev/elasti/operator/internal/cacheopts"
	"github.com/elasti-dev/elasti/operator/internal/controller"
	"github.com/elasti-dev/elasti/operator/internal/elastiserver"
	"github.com/elasti-dev/elasti/operator/internal/ports"
	"github.com/elasti-dev/elasti/operator/internal/traffic"
	"github.com/elasti-dev/elasti/operator/internal/triggers"
	"github.com/elasti-dev/elasti/operator/internal/trust"
	"github.com/elasti-dev/elasti/pkg/apiwait"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/portrange"
	"github.com/elasti-dev/elasti/pkg/scaling"
)

// Run builds the manager and everything it runs, then blocks until ctx ends.
func Run(ctx context.Context, o Options) error {
	policy, err := trust.NewPolicy(o.SidecarImage, names.SystemNamespace)
	if err != nil {
		return fmt.Errorf("--sidecar-image: %w", err)
	}
	if _, err := triggers.NewServers(o.PrometheusAddress, o.PrometheusAllowedAddresses); err != nil {
		return fmt.Errorf("--prometheus-address / --prometheus-allowed-addresses: %w", err)
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	// The manager asks for REST mappings as it is built: a replica that starts while the API server
	// restarts (a leader that lost its lease exits) waits for it rather than crash-looping.
	// Meanwhile the liveness probe is answered: the kubelet must not kill a replica that waits.
	if err := apiwait.WithProbes(o.HealthProbeBindAddress, func() error {
		_, err := apiwait.Version(ctx, cfg, o.APIServerWait, apiwait.DefaultBackoff, ctrl.Log.WithName("setup"))
		return err
	}); err != nil {
		return err
	}
	mgr, err := newManager(o, cfg)
	if err != nil {
		return err
	}
	checker := &trust.Checker{Policy: policy, Namespaces: mgr.GetClient()}
	ackStore := &acks.Store{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Namespace: names.SystemNamespace}
	scaler, err := scaling.NewForConfig(mgr.GetConfig(), mgr.GetClient(), mgr.GetRESTMapper())
	if err != nil {
		return fmt.Errorf("building the scale handler: %w", err)
	}
	if err := addElastiServer(mgr, o, scaler, checker, ackStore); err != nil {
		return err
	}
	if err := addController(ctx, mgr, o, scaler, checker, ackStore); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding readyz check: %w", err)
	}
	ctrl.Log.WithName("setup").Info("starting operator", "leaderElection", o.LeaderElect, "elastiserver", o.ElastiServerBindAddress,
		"pollInterval", o.PollInterval, "sidecarAckTimeout", o.SidecarAckTimeout)
	return mgr.Start(ctx)
}

// newManager builds the manager with cacheOptions.
func newManager(o Options, cfg *rest.Config) (manager.Manager, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress:        o.HealthProbeBindAddress,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cacheOptions(),
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	return mgr, nil
}

// cacheOptions: what the manager's cache holds, each object trimmed to the fields the operator
// reads (package cacheopts).
func cacheOptions() cache.Options { return cacheopts.Options(names.SystemNamespace) }

// addElastiServer: every replica serves RequestCounts and sidecar streams from its own cache.
func addElastiServer(mgr manager.Manager, o Options, scaler *scaling.ScaleHandler, checker *trust.Checker, ackStore *acks.Store) error {
	authn := auth.New(auth.Options{Reviewer: mgr.GetClient(), Pods: mgr.GetClient(), Trust: checker, Audience: o.TokenAudience,
		ReviewsPerSecond: o.TokenReviewsPerSecond})
	replica, err := os.Hostname() // the pod's name
	if err != nil {
		return fmt.Errorf("reading the host name (names this replica's traffic lease): %w", err)
	}
	ledger := &traffic.Ledger{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Namespace: names.SystemNamespace, Replica: replica}
	if err := mgr.Add(ledger); err != nil {
		return fmt.Errorf("adding the traffic ledger: %w", err)
	}
	srv, err := elastiserver.New(elastiserver.Options{
		Traffic:       ledger,
		ServiceIndex:  controller.IndexService, // registered by addController's setup, before the cache starts
		BindAddress:   o.ElastiServerBindAddress,
		CertDir:       o.CertDir,
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(), // an ElastiService created a moment ago is not a 404
		Acks:          ackStore,
		Cache:         mgr.GetCache(),
		ScaleHandler:  scaler,
		Authenticator: authn,
		ClusterDomain: o.ClusterDomain,
		Logger:        ctrl.Log.WithName("elastiserver"),
	})
	if err != nil {
		return fmt.Errorf("creating elastiserver: %w", err)
	}
	if err := mgr.Add(srv); err != nil {
		return fmt.Errorf("adding elastiserver: %w", err)
	}
	return nil
}

// addController: the reconciler and the scale-down loop run on the leader only.
func addController(ctx context.Context, mgr manager.Manager, o Options, scaler *scaling.ScaleHandler, checker *trust.Checker, ackStore *acks.Store) error {
	portRange, err := portrange.Parse(o.SidecarPortRange)
	if err != nil {
		return fmt.Errorf("--sidecar-port-range: %w", err)
	}
	rec := &controller.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Scaler:    scaler,
		Recorder:  mgr.GetEventRecorder("elasti-operator"),
		Tracker:   controller.NewTracker(),
		Ports:     ports.New(portRange),
		Trust:     checker,
		Sidecars:  ackStore,
	}
	if o.ReconcileWorkers < 1 {
		return fmt.Errorf("--reconcile-workers must be at least 1, got %d", o.ReconcileWorkers)
	}
	rec.Workers = o.ReconcileWorkers
	if err := rec.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the elastiservice controller: %w", err)
	}
	loop := &controller.ScaleDownLoop{
		Controller: rec,
		Scaler:     scaler,
		Tracker:    rec.Tracker,
		APIReader:  mgr.GetAPIReader(),
		Evaluator: &triggers.Evaluator{
			HTTPClient:             &http.Client{Timeout: o.PrometheusTimeout},
			DefaultServerAddress:   o.PrometheusAddress,
			AllowedServerAddresses: o.PrometheusAllowedAddresses,
			Secrets:                mgr.GetAPIReader(), // get only: no cache (and no list/watch) of Secrets
			Logger:                 ctrl.Log.WithName("triggers"),
		},
		InEnabledPeriod: triggers.InEnabledPeriod,
		Traffic:         &traffic.Meter{Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(), Namespace: names.SystemNamespace},
		PollInterval:    o.PollInterval,
		AckTimeout:      o.SidecarAckTimeout,
	}
	if err := mgr.Add(loop); err != nil {
		return fmt.Errorf("adding the scale-down loop: %w", err)
	}
	collector := &acks.Collector{Store: ackStore, Pods: mgr.GetClient(), APIReader: mgr.GetAPIReader()}
	if err := mgr.Add(collector); err != nil {
		return fmt.Errorf("adding the acknowledgement lease collector: %w", err)
	}
	return nil
}

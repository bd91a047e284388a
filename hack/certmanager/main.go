//go:build ignore

// Command cert-manager is Elasti's build of cert-manager's controller, webhook and cainjector
// in one binary: `cert-manager controller|webhook|cainjector [flags]`. hack/certmanager/build.sh
// compiles it against the pinned github.com/cert-manager/cert-manager module from the Go module
// proxy; the release's own main packages live in nested modules (controller-binary, ...) that
// the proxy does not serve, so the wiring here is ours and the control loops are the release's.
//
// Trimmed to what a cluster that issues its own certificates needs: the controller runs the
// Issuer/ClusterIssuer loops, the Certificate loops and the CertificateRequest approver and
// issuers for the CA and SelfSigned issuer types (no ACME, Vault or Venafi, no Ingress or Gateway
// shim). One replica each, no leader election. The build tag keeps this file out of Elasti's
// own module; the build script copies it into a throwaway module whose path lies under
// github.com/cert-manager/cert-manager/, the only place Go lets a program import the release's
// internal packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	logsapi "k8s.io/component-base/logs/api/v1"
	apireg "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cmwebhook "github.com/cert-manager/cert-manager/internal/webhook"
	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
	webhookoptions "github.com/cert-manager/cert-manager/pkg/webhook/options"

	// The control loops this build runs register themselves with controller.Known().
	crapprover "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	certmetrics "github.com/cert-manager/cert-manager/pkg/controller/certificates/metrics"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// The issuer types the Issuer and ClusterIssuer loops can set up.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// controllers are the control loops the controller component runs.
var controllers = []string{
	issuers.ControllerName, clusterissuers.ControllerName,
	crapprover.ControllerName, crca.CRControllerName, crselfsigned.CRControllerName,
	trigger.ControllerName, issuing.ControllerName, keymanager.ControllerName,
	requestmanager.ControllerName, readiness.ControllerName, revisionmanager.ControllerName,
	certmetrics.ControllerName,
}

func main() {
	logf.InitLogs()
	defer logf.FlushLogs()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cert-manager controller|webhook|cainjector [flags]")
		os.Exit(2)
	}
	run := map[string]func(context.Context, []string) error{
		"controller": runController,
		"webhook":    runWebhook,
		"cainjector": runCAInjector,
	}[os.Args[1]]
	if run == nil {
		fmt.Fprintf(os.Stderr, "unknown component %q: want controller, webhook or cainjector\n", os.Args[1])
		os.Exit(2)
	}
	// controller-runtime (cainjector, the webhook's server) logs through the same logger.
	ctrl.SetLogger(logf.Log)
	v := util.VersionInfo()
	logf.Log.Info("starting cert-manager", "component", os.Args[1], "version", v.GitVersion, "go_version", v.GoVersion)
	err := run(logf.NewContext(ctx, logf.Log, os.Args[1]), os.Args[2:])
	if errors.Is(err, pflag.ErrHelp) {
		return
	}
	if err != nil {
		logf.Log.Error(err, "exiting", "component", os.Args[1])
		logf.FlushLogs()
		os.Exit(1)
	}
}

// parse parses args into fs, with the logging flags (--v, --logging-format) unless the
// component's own flags have them, applies the logging settings and fails on positional
// arguments, which no component takes.
func parse(fs *pflag.FlagSet, args []string, logging *logsapi.LoggingConfiguration) error {
	if logging == nil {
		logging = logsapi.NewLoggingConfiguration()
		logf.AddFlags(logging, fs)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: every setting is a --flag", fs.Args())
	}
	if err := logf.ValidateAndApply(logging); err != nil {
		return fmt.Errorf("logging flags: %w", err)
	}
	return nil
}

func runController(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig path (empty: in-cluster)")
	clusterNS := fs.String("cluster-resource-namespace", "cert-manager", "namespace of the Secrets that ClusterIssuers use")
	metricsAddr := fs.String("metrics-listen-address", ":9402", "Prometheus metrics address")
	workers := fs.Int("workers", 5, "workers per control loop")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	log := logf.FromContext(ctx)
	factory, err := controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig:         *kubeconfig,
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		IssuerOptions:      controller.IssuerOptions{ClusterResourceNamespace: *clusterNS},
		CertificateOptions: controller.CertificateOptions{
			// The release's defaults for a CertificateRequest that failed.
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
	})
	if err != nil {
		return fmt.Errorf("building the controller context: %w", err)
	}
	cctx, err := factory.Build()
	if err != nil {
		return fmt.Errorf("building the controller context: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(controllers)+1)
	for _, name := range controllers {
		newLoop, ok := controller.Known()[name]
		if !ok {
			return fmt.Errorf("control loop %q is not registered in this build", name)
		}
		loop, err := newLoop(factory)
		if err != nil {
			return fmt.Errorf("setting up control loop %s: %w", name, err)
		}
		log.Info("starting control loop", "controller", name)
		go func() { errs <- loop.Run(*workers, ctx) }()
	}
	cctx.Metrics.SetupCertificateCollector(cctx.SharedInformerFactory.Certmanager().V1().Certificates().Lister())
	cctx.Metrics.SetupIssuerCollector(cctx.SharedInformerFactory.Certmanager().V1().Issuers().Lister())
	cctx.Metrics.SetupClusterIssuerCollector(cctx.SharedInformerFactory.Certmanager().V1().ClusterIssuers().Lister())
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", *metricsAddr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *metricsAddr, err)
	}
	srv := cctx.Metrics.NewServer(ln)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("metrics server: %w", err)
		}
	}()
	cctx.SharedInformerFactory.Start(ctx.Done())
	cctx.KubeSharedInformerFactory.Start(ctx.Done())
	cctx.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	cancel()
	shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_ = srv.Shutdown(shutdown)
	return err
}

func runWebhook(ctx context.Context, args []string) error {
	cfg, err := webhookoptions.NewWebhookConfiguration()
	if err != nil {
		return err
	}
	fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
	webhookoptions.AddConfigFlags(fs, cfg)
	if err := parse(fs, args, &cfg.Logging); err != nil {
		return err
	}
	srv, err := cmwebhook.NewCertManagerWebhookServer(logf.FromContext(ctx), *cfg)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

func runCAInjector(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("cainjector", pflag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig path (empty: in-cluster)")
	metricsAddr := fs.String("metrics-listen-address", ":9402", "Prometheus metrics address")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: *kubeconfig}, &clientcmd.ConfigOverrides{})
	restConfig, err := loader.ClientConfig()
	if err != nil {
		return fmt.Errorf("loading the client configuration: %w", err)
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(kscheme.AddToScheme(scheme))
	utilruntime.Must(cmscheme.AddToScheme(scheme))
	utilruntime.Must(apiext.AddToScheme(scheme))
	utilruntime.Must(apireg.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(util.RestConfigWithUserAgent(restConfig, "cainjector"), ctrl.Options{
		Scheme: scheme,
		// Secrets are read directly, as the release does: caching every Secret of the
		// cluster would cost memory for the few that hold a CA.
		Client:  client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		Metrics: metricsserver.Options{BindAddress: *metricsAddr},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   true,
			cainjector.ValidatingWebhookConfigurationName: true,
			cainjector.APIServiceName:                     true,
			cainjector.CustomResourceDefinitionName:       true,
		},
	}); err != nil {
		return fmt.Errorf("registering the injectors: %w", err)
	}
	return mgr.Start(ctx)
}

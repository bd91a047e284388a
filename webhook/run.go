package webhook

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/version"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/elasti-dev/elasti/pkg/apiwait"
	"github.com/elasti-dev/elasti/webhook/internal/admission"
	"github.com/elasti-dev/elasti/webhook/internal/certs"
	"github.com/elasti-dev/elasti/webhook/internal/inject"
	"github.com/elasti-dev/elasti/webhook/internal/nslabel"
)

// Path is where the pod mutating webhook is served.
const Path = "/mutate-pods"

// Run starts the webhook with the in-cluster (or kubeconfig) configuration until ctx ends.
func Run(ctx context.Context, o Options) error {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	return RunWithConfig(ctx, o, cfg)
}

// RunWithConfig is Run with an explicit API server configuration.
func RunWithConfig(ctx context.Context, o Options, restCfg *rest.Config) error {
	log := ctrl.Log.WithName("webhook")
	injectCfg, err := o.injectConfig()
	if err != nil {
		return fmt.Errorf("invalid flags: %w", err)
	}
	// A webhook that starts while the API server restarts (a leader that lost its lease exits)
	// waits for it rather than crash-looping.
	// Meanwhile the liveness probe is answered: the kubelet must not kill a webhook that waits.
	var v *version.Info
	if err := apiwait.WithProbes(o.ProbeAddr, func() (err error) {
		v, err = apiwait.Version(ctx, restCfg, o.APIServerWait, apiwait.DefaultBackoff, log)
		return err
	}); err != nil {
		return err
	}
	if injectCfg.NativeSidecar, err = nativeSidecar(o.NativeSidecar, v); err != nil {
		return err
	}
	log.Info("sidecar mode", "native", injectCfg.NativeSidecar)
	if o.CertMode == CertModeSelfManaged {
		if err := initialCertificates(ctx, o, restCfg, log); err != nil {
			return err
		}
	}
	mgr, err := newManager(o, restCfg)
	if err != nil {
		return err
	}
	publisher := &nslabel.CAPublisher{SystemNamespace: o.Namespace}
	bundle := &certs.FileBundle{Path: o.caBundleFile(), Log: log.WithName("ca-bundle"), OnChange: publisher.BundleChanged}
	bundle.Load()
	publisher.Bundle = bundle.PEM
	if err := mgr.Add(bundle); err != nil {
		return fmt.Errorf("adding CA bundle reader: %w", err)
	}
	configFor := func() inject.Config {
		c := injectCfg
		c.CABundle = bundle.PEM()
		return c
	}
	if err := setup(mgr, o, configFor, publisher, restCfg, log); err != nil {
		return err
	}
	log.Info("starting", "port", o.Port, "certDir", o.CertDir, "certMode", o.CertMode)
	return mgr.Start(ctx)
}

func newManager(o Options, restCfg *rest.Config) (manager.Manager, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}
	server := crwebhook.NewServer(crwebhook.Options{Port: o.Port, CertDir: o.CertDir, TLSOpts: []func(*tls.Config){
		// HTTP/1.1 only: the API server needs nothing more, and it closes the HTTP/2 stream
		// reset and rapid-reset attack surface (CVE-2023-44487), as kubebuilder projects do.
		func(c *tls.Config) { c.NextProtos = []string{"http/1.1"}; c.MinVersion = tls.VersionTLS12 },
	}})
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                  scheme,
		WebhookServer:           server,
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        o.LeaderElectID,
		LeaderElectionNamespace: o.Namespace,
		// The process exits right after the manager stops, so releasing the Lease is safe and lets
		// the other replica take over the mirror and the checker at once, not after lease expiry.
		LeaderElectionReleaseOnCancel: true,
		// Pods are cached trimmed to what the truth table reads (only the leader's checker
		// watches them; the informer starts on first use).
		// ConfigMaps: only those the CA publisher owns, not every one of the cluster.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:       {Transform: nslabel.TrimPod},
			&corev1.ConfigMap{}: {Label: labels.SelectorFromSet(nslabel.PublishedConfigMaps())},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	return mgr, nil
}

// setup registers the handler, the controllers, the certificate manager and the probes.
func setup(mgr manager.Manager, o Options, configFor func() inject.Config, publisher *nslabel.CAPublisher, restCfg *rest.Config, log logr.Logger) error {
	recorder := mgr.GetEventRecorder("elasti-webhook")
	handler := &admission.Handler{
		Config:     configFor,
		Namespaces: &admission.CachedNamespaces{Cache: mgr.GetClient(), Live: mgr.GetAPIReader()},
		Events:     recorder,
		Log:        log.WithName("admission"),
	}
	mgr.GetWebhookServer().Register(Path, handler.Webhook())
	if !o.DisableMirror {
		if err := (&nslabel.Mirror{Client: mgr.GetClient(), SystemNamespace: o.Namespace}).SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the namespace label mirror: %w", err)
		}
	}
	if !o.DisableCAPublisher {
		publisher.Client, publisher.APIReader, publisher.Events = mgr.GetClient(), mgr.GetAPIReader(), recorder
		if err := publisher.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the operator CA publisher: %w", err)
		}
	}
	if !o.DisableChecker {
		u := &nslabel.Uninjected{Client: mgr.GetClient(), Config: configFor, Events: recorder}
		if err := u.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the uninjected pod checker: %w", err)
		}
	}
	if o.CertMode == CertModeSelfManaged {
		m, err := certManager(o, restCfg, log)
		if err != nil {
			return err
		}
		if err := mgr.Add(m); err != nil {
			return fmt.Errorf("adding certificate manager: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding healthz: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return fmt.Errorf("adding readyz: %w", err)
	}
	return nil
}

func certManager(o Options, restCfg *rest.Config, log logr.Logger) (*certs.Manager, error) {
	c, err := client.New(restCfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("creating client for certificates: %w", err)
	}
	return &certs.Manager{
		Client: c, Namespace: o.Namespace, SecretName: o.TLSSecret, CASecretName: o.CASecret,
		DNSNames: o.dnsNames(), WebhookConfigName: o.WebhookConfig, CertDir: o.CertDir,
		CALifetime: o.CALifetime, ServingLifetime: o.ServingLife, Log: log.WithName("certs"),
	}, nil
}

// initialCertificates runs the certificate manager until the files exist, so the TLS server can
// start. A missing MutatingWebhookConfiguration does not block start-up (the files are written
// before the caBundle); the periodic run retries it.
func initialCertificates(ctx context.Context, o Options, restCfg *rest.Config, log logr.Logger) error {
	m, err := certManager(o, restCfg, log)
	if err != nil {
		return err
	}
	var last error
	for attempt := 0; attempt < 30; attempt++ {
		if last = m.Ensure(ctx); last == nil {
			return nil
		}
		if fileExists(o.CertDir) {
			log.Error(last, "certificate files written; will retry the rest")
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	return fmt.Errorf("creating the webhook certificate: %w", last)
}

// nativeSidecar resolves --native-sidecar; "auto" decides by the API server's version.
func nativeSidecar(mode string, v *version.Info) (bool, error) {
	switch mode {
	case NativeTrue:
		return true, nil
	case NativeFalse:
		return false, nil
	}
	return SupportsNativeSidecar(v.Major, v.Minor), nil
}

// SupportsNativeSidecar reports whether a server version (as in version.Info, where the minor may
// carry a suffix such as "29+") is at least 1.29.
func SupportsNativeSidecar(major, minor string) bool {
	digits := func(s string) int {
		end := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
		if end >= 0 {
			s = s[:end]
		}
		n, _ := strconv.Atoi(s)
		return n
	}
	ma, mi := digits(major), digits(minor)
	return ma > 1 || (ma == 1 && mi >= 29)
}

func fileExists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, certs.KeyTLSCert))
	return err == nil
}

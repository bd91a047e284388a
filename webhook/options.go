package webhook

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/elasti-dev/elasti/pkg/apiwait"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/portrange"
	"github.com/elasti-dev/elasti/webhook/internal/certs"
	"github.com/elasti-dev/elasti/webhook/internal/inject"
)

// Certificate modes.
const (
	// CertModeFiles serves whatever is in --cert-dir (cert-manager mounts its Secret there).
	CertModeFiles = "files"
	// CertModeSelfManaged creates and renews the CA and serving certificate (package certs).
	CertModeSelfManaged = "self-managed"
)

// Native sidecar modes.
const (
	NativeAuto  = "auto"
	NativeTrue  = "true"
	NativeFalse = "false"
)

// Options are the webhook's flags.
type Options struct {
	SidecarImage       string
	OperatorURL        string
	ClusterDomain      string
	Audience           string
	TokenExpirySeconds int64
	SidecarLogLevel    string
	CPURequest         string
	MemoryRequest      string
	MemoryLimit        string
	NativeSidecar      string
	SidecarPortRange   string

	Port           int
	CertDir        string
	CABundleFile   string
	CertMode       string
	Namespace      string
	TLSSecret      string
	CASecret       string
	WebhookConfig  string
	CertDNSNames   string
	CALifetime     time.Duration
	ServingLife    time.Duration
	MetricsAddr    string
	ProbeAddr      string
	LeaderElect    bool
	LeaderElectID  string
	DisableMirror  bool
	DisableChecker bool
	// DisableCAPublisher stops keeping the operator CA bundle in opted-in namespaces.
	DisableCAPublisher bool
	// APIServerWait bounds the wait for the API server at start (package apiwait).
	APIServerWait time.Duration
}

// DefaultCertDNSNames covers the webhook and the operator Services: one Secret serves both.
func DefaultCertDNSNames(ns, domain string) []string {
	var out []string
	for _, svc := range []string{"elasti-webhook", names.OperatorServiceName} {
		out = append(out, fmt.Sprintf("%s.%s.svc", svc, ns), fmt.Sprintf("%s.%s.svc.%s", svc, ns, domain))
	}
	return out
}

// BindFlags registers the flags on fs.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	d := inject.DefaultConfig()
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = names.SystemNamespace
	}
	fs.StringVar(&o.SidecarImage, "sidecar-image", "", "Resolver image to inject (required).")
	fs.StringVar(&o.OperatorURL, "operator-url", d.OperatorURL, "URL of the operator's elastiserver, passed to the sidecar.")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", d.ClusterDomain, "Cluster DNS domain, passed to the sidecar.")
	fs.StringVar(&o.Audience, "token-audience", d.Audience, "Audience of the sidecar's projected ServiceAccount token.")
	fs.Int64Var(&o.TokenExpirySeconds, "token-expiry-seconds", d.TokenExpirySeconds, "expirationSeconds of the sidecar's token (>= 600).")
	fs.StringVar(&o.SidecarLogLevel, "sidecar-log-level", d.LogLevel, "Default --log-level of the sidecar (debug, info, warn, error).")
	fs.StringVar(&o.CPURequest, "sidecar-cpu-request", d.CPURequest.String(), "Default CPU request of the sidecar.")
	fs.StringVar(&o.MemoryRequest, "sidecar-memory-request", d.MemoryRequest.String(), "Default memory request of the sidecar.")
	fs.StringVar(&o.MemoryLimit, "sidecar-memory-limit", d.MemoryLimit.String(), "Default memory limit of the sidecar.")
	fs.StringVar(&o.SidecarPortRange, "sidecar-port-range", portrange.Default, "The operator's --sidecar-port-range: gateway pods that declare a container port in it are not injected (the sidecar listens there).")
	fs.StringVar(&o.NativeSidecar, "native-sidecar", NativeAuto, "Inject a native sidecar (init container, restartPolicy Always): auto (API server >= 1.29), true or false.")
	fs.DurationVar(&o.APIServerWait, "api-server-wait", apiwait.DefaultTimeout, "How long the webhook waits at start for an API server that does not answer (restarting, or not up yet) before it exits; errors waiting cannot fix (certificate, 401, 403) end it at once.")
	fs.IntVar(&o.Port, "port", 9443, "HTTPS port of the webhook server.")
	fs.StringVar(&o.CertDir, "cert-dir", "/var/run/elasti/certs", "Directory with tls.crt and tls.key (reloaded on change).")
	fs.StringVar(&o.CABundleFile, "ca-bundle-file", "", "PEM CA bundle injected as "+names.EnvCABundle+" (default <cert-dir>/ca.crt; re-read on change).")
	fs.StringVar(&o.CertMode, "cert-mode", CertModeFiles, "files (cert-manager or any mounted Secret) or self-managed (create and renew the CA and Secret).")
	fs.StringVar(&o.Namespace, "namespace", ns, "Elasti's namespace (default $POD_NAMESPACE or elasti-system).")
	fs.StringVar(&o.TLSSecret, "tls-secret", "elasti-tls", "Self-managed mode: the serving certificate Secret (tls.crt, tls.key, ca.crt).")
	fs.StringVar(&o.CASecret, "ca-secret", "elasti-ca", "Self-managed mode: the CA Secret (readable by the webhook only).")
	fs.StringVar(&o.WebhookConfig, "webhook-config", "elasti-webhook", "Self-managed mode: the MutatingWebhookConfiguration whose caBundle is written.")
	fs.StringVar(&o.CertDNSNames, "cert-dns-names", "", "Self-managed mode: comma-separated DNS names (default: the webhook and operator Services, .svc and .svc.<cluster-domain>).")
	fs.DurationVar(&o.CALifetime, "ca-lifetime", certs.DefaultCALifetime, "Self-managed mode: CA lifetime (renewed at 2/3).")
	fs.DurationVar(&o.ServingLife, "serving-cert-lifetime", certs.DefaultServingLifetime, "Self-managed mode: serving certificate lifetime (renewed at 2/3).")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint (0 disables).")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, "Elect a leader for the namespace label mirror, the CA bundle publisher and the uninjected-pod checker.")
	fs.StringVar(&o.LeaderElectID, "leader-election-id", "elasti-webhook", "Name of the leader election Lease.")
	fs.BoolVar(&o.DisableMirror, "disable-namespace-mirror", false, "Do not mirror the namespace annotation onto the label (another tool does).")
	fs.BoolVar(&o.DisableChecker, "disable-uninjected-checker", false, "Do not watch pods for gateway pods without the sidecar.")
	fs.BoolVar(&o.DisableCAPublisher, "disable-ca-publisher", false, "Do not keep the ConfigMap "+names.OperatorCAConfigMap+" (the current operator CA bundle, which running sidecars re-read) in opted-in namespaces.")
}

// injectConfig validates the sidecar flags into an inject.Config (CABundle and NativeSidecar are
// filled in by Run).
func (o *Options) injectConfig() (inject.Config, error) {
	cfg := inject.DefaultConfig()
	var errs []error
	if !inject.ParseImage(o.SidecarImage) {
		errs = append(errs, fmt.Errorf("--sidecar-image %q: an image reference is required", o.SidecarImage))
	}
	if !inject.LogLevels[o.SidecarLogLevel] {
		errs = append(errs, fmt.Errorf("--sidecar-log-level %q: expected debug, info, warn or error", o.SidecarLogLevel))
	}
	if o.TokenExpirySeconds < 600 {
		errs = append(errs, fmt.Errorf("--token-expiry-seconds %d: the API server's minimum is 600", o.TokenExpirySeconds))
	}
	for _, q := range []struct {
		flag string
		val  string
		dst  *resource.Quantity
	}{{"--sidecar-cpu-request", o.CPURequest, &cfg.CPURequest}, {"--sidecar-memory-request", o.MemoryRequest, &cfg.MemoryRequest}, {"--sidecar-memory-limit", o.MemoryLimit, &cfg.MemoryLimit}} {
		v, err := inject.ParsePositiveQuantity(q.val)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", q.flag, err))
			continue
		}
		*q.dst = v
	}
	if cfg.MemoryRequest.Cmp(cfg.MemoryLimit) > 0 {
		errs = append(errs, errors.New("--sidecar-memory-request is larger than --sidecar-memory-limit"))
	}
	switch o.NativeSidecar {
	case NativeAuto, NativeTrue, NativeFalse:
	default:
		errs = append(errs, fmt.Errorf("--native-sidecar %q: expected auto, true or false", o.NativeSidecar))
	}
	if r, err := portrange.Parse(o.SidecarPortRange); err != nil {
		errs = append(errs, fmt.Errorf("--sidecar-port-range: %w", err))
	} else {
		cfg.SidecarPortRange = r
	}
	switch o.CertMode {
	case CertModeFiles, CertModeSelfManaged:
	default:
		errs = append(errs, fmt.Errorf("--cert-mode %q: expected files or self-managed", o.CertMode))
	}
	cfg.Image, cfg.OperatorURL, cfg.ClusterDomain = o.SidecarImage, o.OperatorURL, o.ClusterDomain
	cfg.Audience, cfg.TokenExpirySeconds, cfg.LogLevel = o.Audience, o.TokenExpirySeconds, o.SidecarLogLevel
	cfg.SystemNamespace = o.Namespace
	return cfg, errors.Join(errs...)
}

func (o *Options) caBundleFile() string {
	if o.CABundleFile != "" {
		return o.CABundleFile
	}
	return filepath.Join(o.CertDir, certs.KeyCACert)
}

func (o *Options) dnsNames() []string {
	if o.CertDNSNames == "" {
		return DefaultCertDNSNames(o.Namespace, o.ClusterDomain)
	}
	return strings.Split(o.CertDNSNames, ",")
}

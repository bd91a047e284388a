package operator

import (
	"flag"
	"strings"
	"time"

	"github.com/elasti-dev/elasti/operator/internal/auth"
	"github.com/elasti-dev/elasti/operator/internal/controller"
	"github.com/elasti-dev/elasti/pkg/apiwait"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/portrange"
)

// Options configure the operator; BindFlags maps them to the command line.
type Options struct {
	// ElastiServerBindAddress: the elastiserver (HTTPS): RequestCounts and the sidecar stream.
	ElastiServerBindAddress string
	// MetricsBindAddress and HealthProbeBindAddress: controller-runtime's endpoints.
	MetricsBindAddress     string
	HealthProbeBindAddress string
	// LeaderElect and LeaderElectionID: only the leader reconciles and scales down.
	LeaderElect      bool
	LeaderElectionID string
	// LeaderElectionNamespace holds the Lease; default the pod's own namespace (in-cluster).
	LeaderElectionNamespace string
	// CertDir holds the elastiserver's tls.crt and tls.key.
	CertDir string
	// PrometheusAddress is the default Prometheus of triggers; PrometheusTimeout bounds a query.
	PrometheusAddress string
	PrometheusTimeout time.Duration
	// PrometheusAllowedAddresses are the other base URLs triggers may name in serverAddress.
	PrometheusAllowedAddresses []string
	// PollInterval of the scale-down loop; SidecarAckTimeout bounds the wait for sidecar acks.
	PollInterval      time.Duration
	SidecarAckTimeout time.Duration
	// TokenAudience that sidecar tokens must carry; ClusterDomain completes service host names.
	TokenAudience string
	ClusterDomain string
	// SidecarPortRange is where each Service port's sidecar port is allocated ("first-last").
	SidecarPortRange string
	// SidecarImage is the image the webhook injects (its --sidecar-image): only sidecars running
	// it (any tag of its repository) in opted-in namespaces are trusted.
	SidecarImage string
	// TokenReviewsPerSecond bounds the TokenReviews sent to authenticate sidecars.
	TokenReviewsPerSecond float64
	// APIServerWait bounds the wait for the API server at start (package apiwait).
	APIServerWait time.Duration
	// ReconcileWorkers is how many ElastiServices the leader reconciles at once (never the same
	// one twice at a time).
	ReconcileWorkers int
}

// BindFlags registers the operator's flags on fs, with their defaults.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.ElastiServerBindAddress, "elastiserver-bind-address", ":8013", "Address of the elastiserver (HTTPS): RequestCounts and the sidecar stream.")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "Elect a leader among replicas; only the leader reconciles and scales down. Required with more than one replica.")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", "elasti-operator.elasti.dev", "Name of the Lease used for leader election.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the Lease; default the operator pod's namespace (required when running outside the cluster).")
	fs.StringVar(&o.CertDir, "cert-dir", "/etc/elasti/tls", "Directory with the elastiserver's tls.crt and tls.key (reloaded when they change).")
	fs.StringVar(&o.PrometheusAddress, "prometheus-address", "", "Prometheus base URL for triggers without metadata.serverAddress.")
	fs.DurationVar(&o.PrometheusTimeout, "prometheus-timeout", 10*time.Second, "Timeout of one Prometheus query.")
	fs.Func("prometheus-allowed-addresses", "Comma-separated Prometheus base URLs that triggers may name in serverAddress, besides --prometheus-address; the operator queries no other address.", func(v string) error {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				o.PrometheusAllowedAddresses = append(o.PrometheusAllowedAddresses, a)
			}
		}
		return nil
	})
	fs.DurationVar(&o.PollInterval, "poll-interval", controller.DefaultPollInterval, "How often the leader evaluates triggers.")
	fs.DurationVar(&o.SidecarAckTimeout, "sidecar-ack-timeout", controller.DefaultSidecarAckTimeout, "How long a scale-down waits for the sidecars to acknowledge the service before it is cancelled.")
	fs.StringVar(&o.TokenAudience, "token-audience", names.DefaultAudience, "Audience that sidecar ServiceAccount tokens must carry.")
	fs.Float64Var(&o.TokenReviewsPerSecond, "tokenreviews-per-second", auth.DefaultReviewsPerSecond, "Most TokenReviews per second this replica sends to authenticate sidecars (burst twice as many); sign-ins above it get 503 and retry. Tokens that are not JWTs for the audience, or have expired, never cost one.")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", names.DefaultClusterDomain, "The cluster's DNS domain (for the host names sent to sidecars).")
	fs.StringVar(&o.SidecarPortRange, "sidecar-port-range", portrange.Default, "Ports (first-last) allocated to Service ports, one each, on which every resolver sidecar listens; the webhook's --sidecar-port-range must be the same. Gateway pods must not use them.")
	fs.DurationVar(&o.APIServerWait, "api-server-wait", apiwait.DefaultTimeout, "How long the operator waits at start for an API server that does not answer (restarting, or not up yet) before it exits; errors waiting cannot fix (certificate, 401, 403) end it at once.")
	fs.IntVar(&o.ReconcileWorkers, "reconcile-workers", controller.DefaultWorkers, "How many ElastiServices the leader reconciles at once. A gateway pod that comes or goes changes the proxy slice of every Service at zero: with one worker 1,000 of them took 27 s to follow it.")
	fs.StringVar(&o.SidecarImage, "sidecar-image", "", "Resolver image the webhook injects (the webhook's --sidecar-image; required): only sidecars running an image of its repository, in namespaces opted in, are trusted.")
}

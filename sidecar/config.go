package sidecar

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"time"

	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/stream"
)

// Config is everything the sidecar can be told. Every field has a flag; see BindFlags.
type Config struct {
	OperatorURL        string
	TokenFile          string
	CAFile             string
	CAPEM              string // from the environment (names.EnvCABundle); trusted together with CAFile
	InsecureSkipVerify bool
	ClusterDomain      string
	BindAddress        string
	ProxyPort          int
	AdminPort          int
	LogLevel           string
	// Supervise: the process started by the container supervises the resolver, its child, and
	// restarts it if it dies (sidecar/supervisor); read by cmd/sidecar only.
	Supervise bool

	HoldTimeout       time.Duration
	MaxHeldPerService int
	MaxHeld           int
	RetryAfter        time.Duration
	DrainTimeout      time.Duration
	ShutdownDelay     time.Duration

	ProbeInterval       time.Duration
	DialTimeout         time.Duration
	ConnectRetries      int
	ConnectRetryBackoff time.Duration
	MaxIdleConnsPerHost int

	OperatorTimeout   time.Duration
	ReportRetry       time.Duration
	ReportMaxRetry    time.Duration
	ReportResend      time.Duration
	ActivityInterval  time.Duration
	HeartbeatTimeout  time.Duration
	StreamMinBackoff  time.Duration
	StreamMaxBackoff  time.Duration
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
}

// BindFlags registers every flag on fs with its default.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.OperatorURL, "operator-url", names.DefaultOperatorURL, "Base URL of the operator's elastiserver (https).")
	fs.StringVar(&c.TokenFile, "token-file", names.SidecarTokenFile, "Projected ServiceAccount token file; re-read on every connection and request.")
	fs.StringVar(&c.CAFile, "ca-file", "", "PEM CA bundle to verify the operator, re-read when it changes; trusted together with the "+names.EnvCABundle+" environment variable. Neither means the system roots.")
	fs.BoolVar(&c.InsecureSkipVerify, "insecure-skip-verify", false, "Do not verify the operator's certificate. For tests only.")
	fs.StringVar(&c.ClusterDomain, "cluster-domain", names.DefaultClusterDomain, "Cluster DNS domain, for name.ns.svc.<domain> hosts.")
	fs.StringVar(&c.BindAddress, "bind-address", "", "Address the proxy and admin listeners bind to (empty: all).")
	fs.IntVar(&c.ProxyPort, "proxy-port", names.DefaultProxyPort, "Direct listener port (HTTP/1.1 and h2c) for clients that dial the sidecar themselves and name the service in Host; the container port is named "+names.PortNameProxy+". Service traffic arrives on the sidecar ports the operator allocates instead.")
	fs.IntVar(&c.AdminPort, "admin-port", names.DefaultAdminPort, "Admin listener port (/livez, /readyz, /metrics); the container port is named "+names.PortNameAdmin+".")
	fs.StringVar(&c.LogLevel, "log-level", "info", "Log level: error, info, debug, or a number (higher is more verbose).")
	fs.BoolVar(&c.Supervise, "supervise", true, "Run the resolver as a child process and restart it at once if it dies, so the container (and its gateway pod) stays up and Ready; false runs it in this process.")

	fs.DurationVar(&c.HoldTimeout, "hold-timeout", 2*time.Minute, "How long a request is held waiting for a pod, unless the ElastiService says otherwise.")
	// A held request costs roughly 25 KiB and one being forwarded roughly 50 KiB (measured by the
	// black-box harness), so the defaults fit the webhook's default 128 MiB memory limit.
	fs.IntVar(&c.MaxHeldPerService, "max-held-per-service", 1000, "Requests held at once for one service; more are answered 503.")
	fs.IntVar(&c.MaxHeld, "max-held", 2000, "Requests held at once in total; more are answered 503.")
	fs.DurationVar(&c.RetryAfter, "retry-after", time.Second, "Retry-After sent with 503 answers.")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 30*time.Second, "On SIGTERM, how long held and in-flight requests may take to finish.")
	fs.DurationVar(&c.ShutdownDelay, "shutdown-delay", 5*time.Second, "On SIGTERM, how long every listener keeps accepting (with /readyz failing) before the drain, so that proxies reading the EndpointSlices stop choosing this sidecar before it stops answering.")

	fs.DurationVar(&c.ProbeInterval, "probe-interval", 50*time.Millisecond, "Interval between the sidecar's own readiness probes of not-ready pods while requests are held.")
	fs.DurationVar(&c.DialTimeout, "dial-timeout", 2*time.Second, "Timeout of one connection to a pod.")
	fs.IntVar(&c.ConnectRetries, "connect-retries", 3, "Retries of a connection refused before any byte was sent.")
	fs.DurationVar(&c.ConnectRetryBackoff, "connect-retry-backoff", 50*time.Millisecond, "Pause before each connection retry.")
	fs.IntVar(&c.MaxIdleConnsPerHost, "max-idle-conns-per-pod", 256, "Idle upstream connections kept per pod.")

	fs.DurationVar(&c.OperatorTimeout, "operator-timeout", 5*time.Second, "Timeout of one RequestCount or Ack request to the operator.")
	fs.DurationVar(&c.ReportRetry, "report-retry", 100*time.Millisecond, "First backoff after a failed RequestCount (doubling).")
	fs.DurationVar(&c.ReportMaxRetry, "report-max-retry", 5*time.Second, "Largest backoff between RequestCount retries.")
	fs.DurationVar(&c.ReportResend, "report-resend", 5*time.Second, "While requests still wait after a successful RequestCount, how often to send another.")
	fs.DurationVar(&c.ActivityInterval, "activity-interval", time.Second, "At most one activity RequestCount per service per interval for requests forwarded at once in proxy mode.")
	fs.DurationVar(&c.HeartbeatTimeout, "heartbeat-timeout", 3*stream.HeartbeatInterval, "Drop the operator stream after this long without a message.")
	fs.DurationVar(&c.StreamMinBackoff, "stream-min-backoff", 100*time.Millisecond, "First reconnect delay of the operator stream (with jitter, doubling).")
	fs.DurationVar(&c.StreamMaxBackoff, "stream-max-backoff", 10*time.Second, "Largest reconnect delay of the operator stream.")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "Proxy listener: time allowed to read request headers.")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 120*time.Second, "Proxy listener: keep-alive idle timeout.")
}

// Validate checks the configuration and says what is wrong.
func (c *Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.OperatorURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && c.InsecureSkipVerify)) {
		errs = append(errs, fmt.Errorf("--operator-url %q must be an https URL such as %s", c.OperatorURL, names.DefaultOperatorURL))
	}
	if c.TokenFile == "" {
		errs = append(errs, errors.New("--token-file is required"))
	}
	for name, p := range map[string]int{"--proxy-port": c.ProxyPort, "--admin-port": c.AdminPort} {
		if p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s %d must be a port number (0 picks a free port)", name, p))
		}
	}
	if c.ProxyPort == c.AdminPort && c.ProxyPort != 0 {
		errs = append(errs, errors.New("--proxy-port and --admin-port must differ"))
	}
	if c.MaxHeldPerService < 1 || c.MaxHeld < 1 {
		errs = append(errs, errors.New("--max-held-per-service and --max-held must be at least 1"))
	}
	for name, d := range map[string]time.Duration{"--hold-timeout": c.HoldTimeout, "--probe-interval": c.ProbeInterval,
		"--dial-timeout": c.DialTimeout, "--operator-timeout": c.OperatorTimeout, "--report-retry": c.ReportRetry,
		"--heartbeat-timeout": c.HeartbeatTimeout, "--stream-min-backoff": c.StreamMinBackoff} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	return errors.Join(errs...)
}

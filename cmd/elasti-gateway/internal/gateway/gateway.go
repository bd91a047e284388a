package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
)

// Config configures the gateway.
type Config struct {
	// Addr is the listen address.
	Addr string
	// ClusterDomain is the cluster's DNS domain (cluster.local).
	ClusterDomain string
	// Namespace is used for a Host that names a Service without its namespace.
	Namespace string
	// UpstreamPort is used when the Host header carries no port.
	UpstreamPort int
}

// Upstream maps a Host header to the host:port to dial: "svc", "svc.ns", "svc.ns.svc" and
// "svc.ns.svc.<domain>" (each with an optional port) all become "svc.ns.svc.<domain>:port".
// Anything else (IP addresses, external names, bad labels) is refused.
func (c Config) Upstream(hostHeader string) (string, error) {
	host, port := hostHeader, strconv.Itoa(c.UpstreamPort)
	if h, p, err := net.SplitHostPort(hostHeader); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("host %q: port must be between 1 and 65535", hostHeader)
		}
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	host = strings.TrimSuffix(strings.TrimSuffix(host, "."+c.ClusterDomain), ".svc")
	labels := strings.Split(host, ".")
	switch {
	case len(labels) == 1 && c.Namespace != "":
		labels = append(labels, c.Namespace)
	case len(labels) != 2:
		return "", fmt.Errorf("host %q: expected a Service name (name, name.namespace or name.namespace.svc.%s)", hostHeader, c.ClusterDomain)
	}
	for _, l := range labels {
		if !isDNSLabel(l) {
			return "", fmt.Errorf("host %q: %q is not a DNS label", hostHeader, l)
		}
	}
	return net.JoinHostPort(labels[0]+"."+labels[1]+".svc."+c.ClusterDomain, port), nil
}

// isDNSLabel reports whether s is an RFC 1123 label (as Service and Namespace names are).
func isDNSLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// Handler returns the reverse proxy; transport nil means http.DefaultTransport. The request goes
// out with the Service's full DNS name as Host (port 80 omitted), so whatever answers behind the
// Service (the application, or Elasti's resolver while the application is at zero) sees an
// unambiguous name; the client's Host is kept in X-Forwarded-Host.
func Handler(log logr.Logger, cfg Config, transport http.RoundTripper) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			upstream, _ := cfg.Upstream(pr.In.Host) // checked by checkHost before
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = upstream
			pr.Out.Host = strings.TrimSuffix(upstream, ":80")
			pr.SetXForwarded()
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Info("upstream failed", "host", r.Host, "err", err.Error())
			http.Error(w, "gateway: upstream "+r.Host+" failed: "+err.Error(), http.StatusBadGateway)
		},
	}
}

// checkHost answers 400 for hosts that are not Service names, before the proxy sees them.
func checkHost(cfg Config, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/-/healthz" {
			_, _ = w.Write([]byte("ok\n"))
			return
		}
		if _, err := cfg.Upstream(r.Host); err != nil {
			http.Error(w, "gateway: "+err.Error(), http.StatusBadRequest)
			return
		}
		if r.ProtoMajor == 1 && r.ContentLength != 0 {
			// The upstream may answer before the request body has all arrived; without this Go's
			// HTTP/1 server discards the rest of the body once the response starts.
			_ = http.NewResponseController(w).EnableFullDuplex()
		}
		next.ServeHTTP(w, r)
	})
}

// Run serves until ctx ends. /-/healthz is the gateway's own health endpoint.
func Run(ctx context.Context, log logr.Logger, cfg Config) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	log.Info("listening", "addr", ln.Addr().String(), "namespace", cfg.Namespace)
	srv := &http.Server{Handler: checkHost(cfg, Handler(log, cfg, nil)), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

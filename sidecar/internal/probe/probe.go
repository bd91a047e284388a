package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/elasti-dev/elasti/pkg/stream"
)

// Prober runs one probe against one address.
type Prober struct {
	client *http.Client
	dialer net.Dialer
}

// NewProber returns a prober. Like the kubelet, it does not verify HTTPS certificates, does
// not keep connections alive and does not follow redirects (a 3xx counts as success).
func NewProber() *Prober {
	tr := &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelet semantics: probes do not verify
	}
	return &Prober{client: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Probe runs p against ip and returns nil when the endpoint answers as a ready pod would.
func (p *Prober) Probe(ctx context.Context, ip string, pr stream.Probe) error {
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(ip, strconv.Itoa(int(pr.Port)))
	switch pr.Type {
	case stream.ProbeTCP:
		c, err := p.dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("tcp probe of %s: %w", addr, err)
		}
		return c.Close()
	case stream.ProbeHTTP:
		return p.httpProbe(ctx, addr, pr)
	default:
		return fmt.Errorf("probe type %q is not supported", pr.Type)
	}
}

func (p *Prober) httpProbe(ctx context.Context, addr string, pr stream.Probe) error {
	scheme := "http"
	if strings.EqualFold(pr.Scheme, "https") {
		scheme = "https"
	}
	path := pr.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+path, nil)
	if err != nil {
		return fmt.Errorf("building http probe: %w", err)
	}
	req.Header.Set("User-Agent", "elasti-sidecar-probe")
	for k, v := range pr.Headers {
		if strings.EqualFold(k, "host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("http probe of %s: %w", addr, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("http probe of %s%s: status %d", addr, path, resp.StatusCode)
	}
	return nil
}

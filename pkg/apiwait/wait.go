package apiwait

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// DefaultTimeout is how long a component waits for the API server at start before it gives up.
const DefaultTimeout = 2 * time.Minute

// Backoff is the pause between attempts: First, doubled after each failure up to Max.
type Backoff struct {
	First, Max time.Duration
}

// DefaultBackoff: quick first retries (an API server restart often takes a few seconds), then one
// attempt every 5 s.
var DefaultBackoff = Backoff{First: 250 * time.Millisecond, Max: 5 * time.Second}

// Version asks the API server of cfg for its version until it answers, then returns it. It
// retries errors that waiting can end (refused or reset connections, timeouts, 429 and 5xx
// answers) for at most timeout, logging the first failure and then one line every 10 s, and
// returns at once on errors it cannot (the server's certificate does not verify, 401, 403), or
// when ctx ends.
func Version(ctx context.Context, cfg *rest.Config, timeout time.Duration, b Backoff, log logr.Logger) (*version.Info, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating discovery client: %w", err)
	}
	return wait(ctx, dc.ServerVersion, timeout, b, log, cfg.Host)
}

func wait(ctx context.Context, ask func() (*version.Info, error), timeout time.Duration, b Backoff, log logr.Logger, host string) (*version.Info, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	pause := b.First
	var lastLog time.Time
	for attempt := 1; ; attempt++ {
		v, err := ask()
		if err == nil {
			if attempt > 1 {
				log.Info("the API server answers", "host", host, "waited", time.Since(start).Round(time.Millisecond), "attempts", attempt)
			}
			return v, nil
		}
		if permanent(err) {
			return nil, fmt.Errorf("asking the API server at %s for its version: %w", host, err)
		}
		if !time.Now().Add(pause).Before(deadline) {
			return nil, fmt.Errorf("the API server at %s did not answer within %s (%d attempts): %w", host, timeout, attempt, err)
		}
		if lastLog.IsZero() || time.Since(lastLog) >= 10*time.Second {
			log.Info("waiting for the API server", "host", host, "waited", time.Since(start).Round(time.Millisecond), "timeout", timeout, "error", err.Error())
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the API server at %s: %w (last error: %v)", host, ctx.Err(), err)
		case <-time.After(pause):
		}
		pause = min(2*pause, b.Max)
	}
}

// permanent: errors that another attempt would repeat.
func permanent(err error) bool {
	var unknownAuthority x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	switch {
	case apierrors.IsUnauthorized(err), apierrors.IsForbidden(err):
		return true
	case errors.As(err, &unknownAuthority), errors.As(err, &invalid), errors.As(err, &hostname):
		return true
	}
	return false
}

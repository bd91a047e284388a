package credentials

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// MaxTokenBytes bounds the token file read.
const MaxTokenBytes = 64 << 10

// Trust is what the sidecar trusts to verify the operator: the bundle it was started with (the
// environment, fixed for the pod's life) plus the current content of a file that may change (the
// ConfigMap the webhook keeps up to date, projected into the pod), so that a CA rotation reaches a
// running sidecar. The file is re-read, when its size or modification time changed, at each new
// connection; a missing or unreadable file adds nothing.
type Trust struct {
	fixed []byte
	file  string

	mu    sync.Mutex
	stamp fileStamp
	pool  *x509.CertPool
}

type fileStamp struct {
	size    int64
	modTime time.Time
	seen    bool
}

// NewTrust checks the fixed bundle (it must hold a certificate when not empty) and reads the file
// once. Both empty means the system roots.
func NewTrust(fixedPEM []byte, file string) (*Trust, error) {
	if len(bytes.TrimSpace(fixedPEM)) > 0 && !x509.NewCertPool().AppendCertsFromPEM(fixedPEM) {
		return nil, errors.New("reading the operator CA bundle: no PEM certificate found")
	}
	t := &Trust{fixed: fixedPEM, file: file}
	t.Pool()
	return t, nil
}

// custom reports whether the trust replaces the system roots.
func (t *Trust) custom() bool { return len(bytes.TrimSpace(t.fixed)) > 0 || t.file != "" }

// Pool returns the certificates trusted now (nil: the system roots).
func (t *Trust) Pool() *x509.CertPool {
	if !t.custom() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var stamp fileStamp
	if t.file != "" {
		if fi, err := os.Stat(t.file); err == nil {
			stamp = fileStamp{size: fi.Size(), modTime: fi.ModTime(), seen: true}
		}
	}
	if t.pool != nil && stamp == t.stamp {
		return t.pool
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(t.fixed)
	if stamp.seen {
		if b, err := os.ReadFile(t.file); err == nil {
			pool.AppendCertsFromPEM(b)
		}
	}
	t.pool, t.stamp = pool, stamp
	return pool
}

// TLSConfig returns a client TLS configuration that verifies the server against trust as it is
// at each handshake; insecure disables verification (tests only).
func TLSConfig(trust *Trust, insecure bool) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // only with --insecure-skip-verify, which logs a warning
	if insecure || trust == nil || !trust.custom() {
		return cfg
	}
	// The standard verification reads RootCAs once per tls.Config; this one asks trust per
	// handshake. It does what crypto/tls does (chain to a trusted root, host name) and no less.
	cfg.InsecureSkipVerify = true //nolint:gosec // verification is done in VerifyConnection below
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the operator sent no certificate")
		}
		opts := x509.VerifyOptions{Roots: trust.Pool(), DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			return fmt.Errorf("verifying the operator's certificate: %w", err)
		}
		return nil
	}
	return cfg
}

// TokenFile reads a bearer token from a file on every call.
type TokenFile string

// Token returns the file's content without surrounding whitespace.
func (f TokenFile) Token() (string, error) {
	fh, err := os.Open(string(f))
	if err != nil {
		return "", fmt.Errorf("reading token: %w", err)
	}
	defer fh.Close()
	buf := make([]byte, MaxTokenBytes+1)
	n, _ := fh.Read(buf)
	if n > MaxTokenBytes {
		return "", fmt.Errorf("reading token: %s is larger than %d bytes", f, MaxTokenBytes)
	}
	tok := strings.TrimSpace(string(buf[:n]))
	if tok == "" {
		return "", fmt.Errorf("reading token: %s is empty", f)
	}
	return tok, nil
}

// Authorize sets the Authorization header from the token file.
func (f TokenFile) Authorize(req *http.Request) error {
	tok, err := f.Token()
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

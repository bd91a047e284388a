package credentials

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// MaxTokenBytes bounds the token file read.
const MaxTokenBytes = 64 << 10

// TLSConfig returns a client TLS configuration. caPEM, when not empty, replaces the system
// roots; insecure disables verification (tests only).
func TLSConfig(caPEM []byte, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // only with --insecure-skip-verify, which logs a warning
	if len(caPEM) == 0 {
		return cfg, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("reading the operator CA bundle: no PEM certificate found")
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// LoadCA returns the CA bundle from the environment value when set, otherwise from file (""
// means none: use the system roots).
func LoadCA(envValue, file string) ([]byte, error) {
	if strings.TrimSpace(envValue) != "" {
		return []byte(envValue), nil
	}
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading CA file: %w", err)
	}
	return b, nil
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

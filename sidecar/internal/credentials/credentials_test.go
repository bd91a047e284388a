package credentials

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/internal/pki"
)

func TestTokenFileIsReReadOnEveryUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	f := TokenFile(path)
	_, err := f.Token()
	require.Error(t, err)

	require.NoError(t, os.WriteFile(path, []byte("one\n"), 0o600))
	req, _ := http.NewRequest(http.MethodGet, "https://x", nil)
	require.NoError(t, f.Authorize(req))
	assert.Equal(t, "Bearer one", req.Header.Get("Authorization"))

	require.NoError(t, os.WriteFile(path, []byte("two"), 0o600))
	require.NoError(t, f.Authorize(req))
	assert.Equal(t, "Bearer two", req.Header.Get("Authorization"))

	require.NoError(t, os.WriteFile(path, []byte(" \n"), 0o600))
	_, err = f.Token()
	require.ErrorContains(t, err, "empty")
}

func TestTrustRejectsAFixedBundleWithoutCertificates(t *testing.T) {
	_, err := NewTrust([]byte("not pem"), "")
	require.ErrorContains(t, err, "no PEM certificate")
	trust, err := NewTrust(nil, "")
	require.NoError(t, err)
	assert.Nil(t, trust.Pool(), "nothing given: the system roots")
	assert.Nil(t, TLSConfig(trust, false).VerifyConnection)
}

// TestTrustFollowsTheFileAcrossACARotation: a sidecar started with the old CA in its environment
// verifies an operator whose certificate the new CA signed once the projected file carries it,
// without a restart; a wrong host name and an unknown CA are still refused.
func TestTrustFollowsTheFileAcrossACARotation(t *testing.T) {
	now := time.Now()
	oldCA, err := pki.NewCA(now, time.Hour)
	require.NoError(t, err)
	newCA, err := pki.NewCA(now, time.Hour)
	require.NoError(t, err)
	serving, err := pki.NewServing(newCA, []string{"operator.test"}, now, time.Hour)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	cert, err := tls.X509KeyPair(serving.CertPEM, serving.KeyPEM)
	require.NoError(t, err)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	file := filepath.Join(t.TempDir(), "ca.crt")
	trust, err := NewTrust(oldCA.CertPEM, file)
	require.NoError(t, err)
	get := func(serverName string) error {
		cfg := TLSConfig(trust, false)
		cfg.ServerName = serverName
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 5 * time.Second}
		resp, err := c.Get(srv.URL)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}

	err = get("operator.test")
	require.ErrorContains(t, err, "verifying the operator's certificate", "the file is missing: only the old CA is trusted")

	require.NoError(t, os.WriteFile(file, append(append([]byte{}, newCA.CertPEM...), oldCA.CertPEM...), 0o600))
	require.NoError(t, get("operator.test"), "the rotated bundle is picked up at the next connection")
	require.ErrorContains(t, get("someone-else.test"), "operator.test", "the host name is still checked")

	other, err := pki.NewCA(now, time.Hour)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, other.CertPEM, 0o600))
	later := now.Add(time.Second)
	require.NoError(t, os.Chtimes(file, later, later)) // a same-size rewrite within the clock's resolution
	require.ErrorContains(t, get("operator.test"), "verifying the operator's certificate", "a CA dropped from the file is no longer trusted")
}

package credentials

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

func TestTLSConfig(t *testing.T) {
	_, err := TLSConfig([]byte("not pem"), false)
	require.ErrorContains(t, err, "no PEM certificate")
	cfg, err := TLSConfig(nil, false)
	require.NoError(t, err)
	assert.Nil(t, cfg.RootCAs)

	ca, err := LoadCA("env-pem", "/nonexistent")
	require.NoError(t, err)
	assert.Equal(t, "env-pem", string(ca))
	_, err = LoadCA("", "/nonexistent")
	require.Error(t, err)
	ca, err = LoadCA("", "")
	require.NoError(t, err)
	assert.Nil(t, ca)
}

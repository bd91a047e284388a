package apiwait

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/internal/freeport"
)

func TestWithProbes(t *testing.T) {
	// A free port, released for WithProbes to take.
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeport.Loopback(t)))

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitErr := errors.New("gave up")
	err := WithProbes(addr, func() error {
		code, body := get("/healthz")
		assert.Equal(t, http.StatusOK, code, "alive while waiting: the kubelet must not kill it")
		assert.Contains(t, body, "waiting for the API server")
		code, _ = get("/readyz")
		assert.Equal(t, http.StatusServiceUnavailable, code, "not ready while waiting")
		return waitErr
	})
	require.ErrorIs(t, err, waitErr, "the wait's error comes back")

	// The address is free again for the manager.
	again, err := net.Listen("tcp", addr)
	require.NoError(t, err, "WithProbes must close its listener before returning")
	require.NoError(t, again.Close())
}

func TestWithProbesDisabled(t *testing.T) {
	for _, addr := range []string{"", "0"} {
		called := false
		require.NoError(t, WithProbes(addr, func() error { called = true; return nil }))
		assert.True(t, called)
	}
}

func TestWithProbesAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	err = WithProbes(ln.Addr().String(), func() error { t.Fatal("must not wait without its probes"); return nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listening for health probes")
}

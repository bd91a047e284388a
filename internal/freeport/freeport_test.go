package freeport

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoopbackIsFreeBelowTheEphemeralRangeAndNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		p := Loopback(t)
		assert.GreaterOrEqual(t, p, low)
		assert.Less(t, p, max(ephemeralLow(), 32768))
		assert.False(t, seen[p], "port %d handed out twice", p)
		seen[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		require.NoError(t, err)
		require.NoError(t, ln.Close())
	}
}

func TestPickSkipsPortsInUseAndHandedOut(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := busy.Addr().(*net.TCPAddr).Port
	_, err = pick(b, b+1) // the only port of the range is in use
	require.ErrorContains(t, err, "no free loopback port")

	require.NoError(t, busy.Close())
	p, err := pick(b, b+1) // free now
	require.NoError(t, err)
	assert.Equal(t, b, p)
	_, err = pick(b, b+1) // handed out already
	require.ErrorContains(t, err, "no free loopback port")
}

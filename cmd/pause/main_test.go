package main

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReapCollectsExitedChildren: once a child has exited, reap collects it, so that the child's
// own Wait finds nothing left to wait for.
func TestReapCollectsExitedChildren(t *testing.T) {
	cmd := exec.Command("/bin/true")
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	require.Eventually(t, func() bool { return isZombie(pid) }, 5*time.Second, 5*time.Millisecond)

	reap()

	require.ErrorIs(t, cmd.Wait(), syscall.ECHILD)
}

// isZombie reports whether pid has exited and waits to be collected (state Z in /proc/pid/stat).
func isZombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

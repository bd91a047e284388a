package main

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	// Fields 14 and 15 (utime 1234, stime 56); the name holds a space and a parenthesis.
	stat := "4242 (nginx: worker) x) S 4200 4200 4200 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 1 0 100 1000 200"
	ticks, ppid, err := parseStat(stat)
	require.NoError(t, err)
	assert.Equal(t, uint64(1290), ticks)
	assert.Equal(t, 4200, ppid)
	for _, bad := range []string{"", "4242 (x) S 1 2", "4242 no parenthesis S 1 2 3 4 5 6 7 8 9 10 11 12 13 14"} {
		_, _, err := parseStat(bad)
		assert.Error(t, err, bad)
	}
}

func TestCPUOfCountsThisProcess(t *testing.T) {
	self := os.Getpid()
	before, err := cpuOf([]int{self})
	require.NoError(t, err)
	deadline := time.Now().Add(20 * time.Second)
	for x := 0; time.Now().Before(deadline); x++ { // spin until a clock tick of CPU shows
		if now, err := cpuOf([]int{self}); err == nil && now > before {
			return
		}
	}
	t.Fatal("no CPU time seen for this process after spinning")
}

func TestWithChildrenFindsAChild(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pids, err := withChildren(os.Getpid())
	require.NoError(t, err)
	assert.Equal(t, os.Getpid(), pids[0])
	assert.Contains(t, pids, cmd.Process.Pid)
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	assert.Equal(t, time.Duration(6), pct(d, 50))
	assert.Equal(t, time.Duration(10), pct(d, 99))
	assert.Zero(t, pct(nil, 50))
}

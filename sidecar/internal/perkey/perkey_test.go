package perkey

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOneGoroutinePerKey: concurrent Go calls for one key run one loop at a time; other keys run
// beside it.
func TestOneGoroutinePerKey(t *testing.T) {
	var l Loops
	var inA, maxA, runsB atomic.Int32
	release := make(chan struct{})
	loopA := func() {
		n := inA.Add(1)
		for m := maxA.Load(); n > m && !maxA.CompareAndSwap(m, n); m = maxA.Load() {
		}
		<-release
		inA.Add(-1)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { l.Go("a", loopA, func() bool { return false }) })
	}
	wg.Wait()
	l.Go("b", func() { runsB.Add(1) }, func() bool { return false })
	require.Eventually(t, func() bool { return runsB.Load() == 1 && !l.Running("b") }, 5*time.Second, time.Millisecond)
	assert.True(t, l.Running("a"))
	close(release)
	require.Eventually(t, func() bool { return !l.Running("a") }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int32(1), maxA.Load())
}

// TestWorkArrivingAtTheReleaseIsNotLost: when more says work arrived while the loop was ending,
// the loop runs again, until more says there is nothing.
func TestWorkArrivingAtTheReleaseIsNotLost(t *testing.T) {
	var l Loops
	var runs atomic.Int32
	pending := atomic.Int32{}
	pending.Store(2) // two late arrivals
	l.Go("a", func() { runs.Add(1) }, func() bool { return pending.Add(-1) >= 0 })
	require.Eventually(t, func() bool { return !l.Running("a") && runs.Load() == 3 }, 5*time.Second, time.Millisecond)
	time.Sleep(10 * time.Millisecond)
	assert.Equal(t, int32(3), runs.Load())
}

// TestGoAfterTheEndStartsAgain: a key is free again once its loop ended.
func TestGoAfterTheEndStartsAgain(t *testing.T) {
	var l Loops
	var runs atomic.Int32
	for i := 1; i <= 3; i++ {
		l.Go("a", func() { runs.Add(1) }, func() bool { return false })
		require.Eventually(t, func() bool { return runs.Load() == int32(i) && !l.Running("a") }, 5*time.Second, time.Millisecond)
	}
}

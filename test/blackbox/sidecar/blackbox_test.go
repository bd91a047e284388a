//go:build blackbox

package sidecar

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/pkg/messages"
	"github.com/elasti-dev/elasti/sidecar/stuboperator"
)

// TestThousandHeldRequestsZeroLost: 1,000 concurrent requests, each on its own connection, reach
// the sidecar while the target is at zero. The stub operator "scales up" on the first
// RequestCount: the target starts listening 2 s later and the operator pushes it ready. Every
// request must get the target's own 200 answer.
func TestThousandHeldRequestsZeroLost(t *testing.T) {
	const n = 1000
	const startDelay = 2 * time.Second
	bin := build(t)
	tg := newSlowTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "seq=%s", r.Header.Get("X-Seq"))
	}))
	op := stuboperator.Start(token, service("orders", tg, false))
	defer op.Close()
	var woke sync.Once
	op.OnRequestCount = func(messages.RequestCount) {
		woke.Do(func() {
			go func() {
				time.Sleep(startDelay)
				tg.start()
				op.SetService(service("orders", tg, true))
			}()
		})
	}
	p := startBinary(t, bin, op)
	rssBefore := rssKiB(p.cmd.Process.Pid)
	rss := sampleRSS(p.cmd.Process.Pid)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableKeepAlives: true}}
	var ok, failed atomic.Int32
	latencies := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	var firstErr atomic.Value
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctxTimeout(t, time.Minute), http.MethodGet, "http://"+p.proxy+"/", nil)
			req.Host = "orders.shop.svc.cluster.local"
			req.Header.Set("X-Seq", fmt.Sprint(i))
			t0 := time.Now()
			resp, err := client.Do(req)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(body) != fmt.Sprintf("seq=%d", i) {
					err = fmt.Errorf("request %d: status %d body %q", i, resp.StatusCode, body)
				}
			}
			latencies[i] = time.Since(t0)
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			ok.Add(1)
		})
	}
	// Sample how many the sidecar holds at once before the target is up.
	var peakHeld string
	var rssHeld int64
	for time.Since(start) < startDelay/2 {
		if v := metric(t, p.admin, `elasti_sidecar_held_requests{namespace="shop",service="orders"} `); v != "" {
			peakHeld = v
			rssHeld = rssKiB(p.cmd.Process.Pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	elapsed := time.Since(start)
	peakRSS := rss.Stop()
	slices.Sort(latencies)
	t.Logf("FIGURES 1000-held: ok=%d failed=%d held-at-once(sampled)=%s total=%s p50=%s p99=%s max=%s (target start delay %s) RequestCounts=%d maxInFlight=%d sidecar RSS before=%d KiB, all held=%d KiB, peak (forwarding)=%d KiB",
		ok.Load(), failed.Load(), peakHeld, elapsed.Round(time.Millisecond), latencies[n/2].Round(time.Millisecond),
		latencies[n*99/100].Round(time.Millisecond), latencies[n-1].Round(time.Millisecond), startDelay,
		len(op.RequestCounts()), op.MaxInFlight(), rssBefore, rssHeld, peakRSS)
	if err := firstErr.Load(); err != nil {
		t.Errorf("first failure: %v", err)
	}
	require.Equal(t, int32(n), ok.Load(), "every held request must succeed")
	assert.Equal(t, 1, op.MaxInFlight(), "RequestCount de-duplicated")
}

// pattern is an endless deterministic byte stream that costs no memory.
type pattern struct{ n int64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte((p.n + int64(i)) % 251)
	}
	p.n += int64(len(b))
	return len(b), nil
}

// TestGiBBodyFlatRSS streams 1 GiB up and 1 GiB down through the sidecar binary and records its
// resident set size before and at peak.
func TestGiBBodyFlatRSS(t *testing.T) {
	const size = 1 << 30
	bin := build(t)
	tg := newSlowTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "%d %v", n, err)
			return
		}
		_, _ = io.Copy(w, io.LimitReader(&pattern{}, size))
	}))
	tg.start()
	op := stuboperator.Start(token, service("orders", tg, true))
	defer op.Close()
	p := startBinary(t, bin, op)
	// Warm up the forward path so the baseline includes the steady-state buffers.
	resp, err := http.Get("http://" + p.proxy + "/")
	require.NoError(t, err)
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://"+p.proxy+"/", nil)
	req.Host = "orders.shop"
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()

	pid := p.cmd.Process.Pid
	before := rssKiB(pid)
	rss := sampleRSS(pid)
	t0 := time.Now()
	req, _ = http.NewRequest(http.MethodPost, "http://"+p.proxy+"/up", io.LimitReader(&pattern{}, size))
	req.Host = "orders.shop"
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, fmt.Sprintf("%d <nil>", size), string(body))
	up := time.Since(t0)

	t0 = time.Now()
	req, _ = http.NewRequest(http.MethodGet, "http://"+p.proxy+"/down", nil)
	req.Host = "orders.shop"
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, int64(size), n)
	down := time.Since(t0)
	peak := rss.Stop()
	t.Logf("FIGURES 1GiB: upload %s (%.0f MiB/s), download %s (%.0f MiB/s); sidecar RSS before=%d KiB peak=%d KiB (grew %d KiB)",
		up.Round(time.Millisecond), float64(size>>20)/up.Seconds(), down.Round(time.Millisecond), float64(size>>20)/down.Seconds(),
		before, peak, peak-before)
	assert.Less(t, peak-before, int64(64<<10), "RSS grew by more than 64 MiB while streaming 1 GiB")
}

// TestSIGTERMDrainsHeldRequest: SIGTERM while a request is held; it completes once the target
// is up and the process exits 0.
func TestSIGTERMDrainsHeldRequest(t *testing.T) {
	bin := build(t)
	tg := newSlowTarget(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	op := stuboperator.Start(token, service("orders", tg, false))
	defer op.Close()
	p := startBinary(t, bin, op, "--drain-timeout=20s")
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+p.proxy+"/", nil)
		req.Host = "orders.shop"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	require.Eventually(t, func() bool {
		return metric(t, p.admin, `elasti_sidecar_held_requests{namespace="shop",service="orders"} `) == "1"
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	time.Sleep(200 * time.Millisecond) // the drain is under way
	tg.start()
	op.SetService(service("orders", tg, true))
	assert.Equal(t, http.StatusOK, <-done)
	select {
	case err := <-p.exit:
		require.NoError(t, err)
		p.exit <- err // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatal("the sidecar did not exit after draining")
	}
}

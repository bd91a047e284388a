//go:build blackbox

package sidecar

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/elasti-dev/elasti/sidecar/stuboperator"
)

// TestThousandHeldH2CUploadsBoundedRSS: 1,000 h2c uploads of 256 KiB are held while the target
// is at zero. Go's HTTP/2 server buffers what a client sends, up to the receive windows, while
// the body is unread (1 MiB per connection and per stream by default: 150 held uploads grew the
// sidecar from 14 to 180 MiB). With the sidecar's windows:
//   - over a gateway's pool of 50 connections, all 1,000 stay under 64 MiB RSS;
//   - on 1,000 connections of their own, each costs at most 160 KiB: HTTP/2 lets a client send
//     64 KiB on a new connection before it has read the server's settings, so no server window
//     can make that smaller (a smaller stream window makes Go's server reset such streams with
//     FLOW_CONTROL_ERROR), and Go's HTTP/2 server keeps about 50 KiB more per connection.
//
// Then the target comes up and every upload arrives whole.
func TestThousandHeldH2CUploadsBoundedRSS(t *testing.T) {
	const n, size = 1000, 256 << 10
	for _, tc := range []struct {
		name  string
		conns int
		// check is the bound on the RSS with all held (KiB), given the RSS before.
		check func(t *testing.T, before, held int64)
	}{
		{name: "over 50 connections", conns: 50, check: func(t *testing.T, _, held int64) {
			assert.Less(t, held, int64(64<<10), "1,000 held h2c uploads took the sidecar past 64 MiB RSS")
		}},
		{name: "one connection each", conns: n, check: func(t *testing.T, before, held int64) {
			assert.Less(t, held-before, int64(n*160), "a held h2c upload on its own connection cost more than 160 KiB")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, held, ok, err := heldH2CUploads(t, n, tc.conns, size)
			t.Logf("FIGURES 1000-held-h2c-uploads over %d connections: sidecar RSS before=%d KiB, all held=%d KiB (%.1f KiB per held upload); ok=%d of %d",
				tc.conns, before, held, float64(held-before)/n, ok, n)
			if err != nil {
				t.Errorf("first failure: %v", err)
			}
			tc.check(t, before, held)
			assert.Equal(t, n, ok, "every held upload must arrive whole")
		})
	}
}

// heldH2CUploads holds n uploads of size bytes over conns h2c connections, measures the
// sidecar's RSS before and with all of them held, then lets them through.
func heldH2CUploads(t *testing.T, n, conns, size int) (before, held int64, ok int, firstErr error) {
	bin := build(t)
	tg := newSlowTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d %v", got, err)
	}))
	tg.srv.Protocols = new(http.Protocols)
	tg.srv.Protocols.SetHTTP1(true)
	tg.srv.Protocols.SetUnencryptedHTTP2(true)
	op := stuboperator.Start(token, service("orders", tg, false))
	defer op.Close()
	p := startBinary(t, bin, op)
	pid := p.cmd.Process.Pid
	before = rssKiB(pid)

	clients := make([]*http.Client, conns)
	for i := range clients {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		defer tr.CloseIdleConnections()
		clients[i] = &http.Client{Transport: tr}
	}
	var oks atomic.Int32
	var errs atomic.Value
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctxTimeout(t, 2*time.Minute), http.MethodPost, "http://"+p.proxy+"/up", io.LimitReader(&pattern{}, int64(size)))
			req.ContentLength = int64(size)
			req.Host = "orders.shop"
			resp, err := clients[i%conns].Do(req)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := strconv.Itoa(size) + " <nil>"; resp.StatusCode != http.StatusOK || string(body) != want {
					err = fmt.Errorf("status %d body %q, want %q", resp.StatusCode, body, want)
				}
			}
			if err != nil {
				errs.CompareAndSwap(nil, err)
				return
			}
			oks.Add(1)
		})
	}
	var heldNow string
	for deadline := time.Now().Add(time.Minute); heldNow != strconv.Itoa(n); time.Sleep(50 * time.Millisecond) {
		heldNow = metric(t, p.admin, `elasti_sidecar_held_requests{namespace="shop",service="orders"} `)
		if time.Now().After(deadline) {
			t.Fatalf("the uploads were never all held (%s held; first error: %v)", heldNow, errs.Load())
		}
	}
	// Let the clients fill whatever window the sidecar grants, then take the peak.
	rss := sampleRSS(pid)
	time.Sleep(3 * time.Second)
	held = rss.Stop()

	tg.start()
	op.SetService(service("orders", tg, true))
	wg.Wait()
	if err, _ := errs.Load().(error); err != nil {
		firstErr = err
	}
	return before, held, int(oks.Load()), firstErr
}

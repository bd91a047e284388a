package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// Path is one way to reach the app.
type Path struct {
	Target string `json:"target"`
	// Latency of sequential requests on one kept-alive connection.
	Latency Dist `json:"latency"`
	// RPS of the fixed-concurrency run; Errors in both runs.
	RPS    float64 `json:"rps"`
	Errors int     `json:"errors"`
}

// Forward compares the sidecar's forward path with a direct connection to the pod.
type Forward struct {
	Direct  Path `json:"direct"`
	Sidecar Path `json:"sidecar"`
	// P50DeltaMs and P99DeltaMs: sidecar minus direct.
	P50DeltaMs float64 `json:"p50DeltaMs"`
	P99DeltaMs float64 `json:"p99DeltaMs"`
}

// forward measures both paths against the same warm pod. Sequential requests alternate between
// the paths so that noise on this shared machine hits both alike.
func (b *bencher) forward(ctx context.Context, url, podAddr, sidecarAddr string) (Forward, error) {
	direct := framework.GatewayClient(podAddr, true)
	sidecar := framework.GatewayClient(sidecarAddr, true)
	var dLat, sLat []time.Duration
	var dErr, sErr int
	for i := range b.opts.ForwardRequests + 200 {
		for _, p := range []struct {
			c   *http.Client
			lat *[]time.Duration
			err *int
		}{{direct, &dLat, &dErr}, {sidecar, &sLat, &sErr}} {
			start := time.Now()
			r, err := framework.Get(ctx, p.c, url)
			d := time.Since(start)
			switch {
			case err != nil || r.Status != http.StatusOK:
				*p.err++
			case i >= 200: // warm-up excluded
				*p.lat = append(*p.lat, d)
			}
		}
	}
	if ctx.Err() != nil {
		return Forward{}, fmt.Errorf("forward path: %w", ctx.Err())
	}
	f := Forward{
		Direct:  Path{Target: "pod " + podAddr, Latency: Summarize(dLat), Errors: dErr},
		Sidecar: Path{Target: "sidecar " + sidecarAddr, Latency: Summarize(sLat), Errors: sErr},
	}
	b.logf("forward latency measured (%d requests per path)", len(dLat))
	var e int
	f.Direct.RPS, e = b.throughput(ctx, direct, url)
	f.Direct.Errors += e
	f.Sidecar.RPS, e = b.throughput(ctx, sidecar, url)
	f.Sidecar.Errors += e
	f.P50DeltaMs = round3(f.Sidecar.Latency.P50 - f.Direct.Latency.P50)
	f.P99DeltaMs = round3(f.Sidecar.Latency.P99 - f.Direct.Latency.P99)
	return f, nil
}

// throughput runs ForwardConcurrency clients for ForwardDuration and returns requests/s.
func (b *bencher) throughput(ctx context.Context, c *http.Client, url string) (float64, int) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.ForwardDuration)
	defer cancel()
	var ok, failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range b.opts.ForwardConcurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				r, err := framework.Get(ctx, c, url)
				switch {
				case ctx.Err() != nil:
				case err != nil || r.Status != http.StatusOK:
					failed.Add(1)
				default:
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return round3(float64(ok.Load()) / time.Since(start).Seconds()), int(failed.Load())
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5*sign(f))) / 1000 }

func sign(f float64) float64 {
	if f < 0 {
		return -1
	}
	return 1
}

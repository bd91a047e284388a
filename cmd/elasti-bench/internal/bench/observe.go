package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/ptr"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// Observation is the traffic trigger under a steady load: how much of the run the service spent in
// proxy mode (its observations) and what requests paid while it did.
type Observation struct {
	// CooldownS is the service's cooldownPeriod; DurationS the length of the run.
	CooldownS float64 `json:"cooldownSeconds"`
	DurationS float64 `json:"durationSeconds"`
	// Workers and EveryMs: the load (each worker sends a request, waits EveryMs, repeats).
	Workers int     `json:"workers"`
	EveryMs float64 `json:"everyMs"`
	// Requests sent and Failures among them.
	Requests int `json:"requests"`
	Failures int `json:"failures"`
	// ProxyShare is the fraction of mode samples (every 100 ms) in proxy mode.
	ProxyShare float64 `json:"proxyShare"`
	// Observations counted (serve → proxy), and their mean length in seconds.
	Observations    int     `json:"observations"`
	MeanObservation float64 `json:"meanObservationSeconds"`
	// Serve and Observing: the latency of requests sent while status.mode was serve or proxy.
	Serve     Dist `json:"serve"`
	Observing Dist `json:"observing"`
}

// measureObservation runs a service with a traffic trigger under a steady keep-alive load and
// samples its mode.
func (b *bencher) measureObservation(ctx context.Context, rep *Report) error {
	o := b.opts
	app, err := b.ns.DeployApp(ctx, framework.AppOptions{Name: "observed", StartupDelay: o.StartupDelay})
	if err != nil {
		return err
	}
	es := framework.ElastiServiceFor(app)
	es.Spec.CooldownPeriod = ptr.To(int32(o.ObserveCooldown / time.Second))
	es.Spec.Triggers = []elastiv1.ScaleTrigger{{Type: elastiv1.TriggerTypeTraffic}}
	if err := b.env.CreateElastiService(ctx, es); err != nil {
		return err
	}
	if err := waitServe(ctx, []*framework.App{app}); err != nil {
		return err
	}
	b.logf("traffic trigger: %d clients every %s for %s, cooldown %s", o.ObserveWorkers, o.ObserveEvery, o.ObserveDuration, o.ObserveCooldown)
	var proxy atomic.Bool
	client := b.keepAlive
	url := framework.ServiceURL(b.ns.Name, app.Name, 0, "/")
	runCtx, cancel := context.WithTimeout(ctx, o.ObserveDuration)
	defer cancel()
	var mu sync.Mutex
	var serveLat, obsLat []time.Duration
	res := Observation{CooldownS: o.ObserveCooldown.Seconds(), DurationS: o.ObserveDuration.Seconds(), Workers: o.ObserveWorkers,
		EveryMs: float64(o.ObserveEvery.Milliseconds())}
	var wg sync.WaitGroup
	for range o.ObserveWorkers {
		wg.Go(func() {
			for runCtx.Err() == nil {
				observing := proxy.Load()
				start := time.Now()
				r, err := framework.Get(context.WithoutCancel(runCtx), client, url)
				d := time.Since(start)
				mu.Lock()
				res.Requests++
				switch {
				case err != nil || r.Status != http.StatusOK:
					res.Failures++
				case observing:
					obsLat = append(obsLat, d)
				default:
					serveLat = append(serveLat, d)
				}
				mu.Unlock()
				select {
				case <-runCtx.Done():
				case <-time.After(o.ObserveEvery):
				}
			}
		})
	}
	samples, inProxy := 0, 0
	var since time.Time
	var total time.Duration
	for runCtx.Err() == nil {
		cur, err := app.GetElastiService(runCtx)
		if err == nil {
			samples++
			isProxy := cur.Status.Mode == elastiv1.ModeProxy
			if isProxy {
				inProxy++
				if !proxy.Load() {
					res.Observations++
					since = time.Now()
				}
			} else if proxy.Load() {
				total += time.Since(since)
			}
			proxy.Store(isProxy)
		}
		select {
		case <-runCtx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if proxy.Load() { // an observation still running when the run ended counts until now
		total += time.Since(since)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("traffic trigger run: %w", ctx.Err())
	}
	res.ProxyShare = round3(float64(inProxy) / float64(max(samples, 1)))
	if res.Observations > 0 {
		res.MeanObservation = round3(total.Seconds() / float64(res.Observations))
	}
	res.Serve, res.Observing = Summarize(serveLat), Summarize(obsLat)
	rep.Observation = res
	b.logf("traffic trigger: %.1f %% of the run in proxy mode in %d observations; %d requests, %d failed",
		100*res.ProxyShare, res.Observations, res.Requests, res.Failures)
	return nil
}

//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// trafficRun is how long the busy service of TestTrafficTrigger is driven and watched.
const trafficRun = 10 * time.Minute

// TestTrafficTrigger: the traffic trigger scales to zero with no Prometheus running (the suite's
// Prometheus, if an earlier scenario started it, is stopped for the run). Clients reach three
// services with a cooldown of 60 s through Traefik, an ingress controller that balances each
// request over the Service's endpoints (during an observation: the pods and every sidecar), side
// by side:
//   - idle: no request at all. It is observed after its cooldown, scaled to zero after a whole
//     observation without requests, and the next request wakes it;
//   - trickle: one request every 10 s. It is never scaled to zero, and no request fails;
//   - busy: about 100 requests a second for 10 minutes. It spends at most 5 % of the run in
//     proxy mode (its observations end within seconds), and no request fails.
func TestTrafficTrigger(t *testing.T) {
	f := setup(t, "traffic", 1)
	ctx, cancel := context.WithTimeout(context.Background(), env.Config.Scale(trafficRun+6*time.Minute))
	t.Cleanup(cancel)
	f.ctx = ctx
	restore, err := env.StopPrometheus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := restore(context.Background()); err != nil {
			t.Errorf("restarting Prometheus: %v", err)
		}
	})
	trafficTrigger := func(es *elastiv1.ElastiService) {
		es.Spec.CooldownPeriod = ptr.To[int32](60)
		es.Spec.Triggers = []elastiv1.ScaleTrigger{{Type: elastiv1.TriggerTypeTraffic}}
	}
	start := time.Now()
	tr := setupTraefik(t, ctx, "traffic")
	hosted := func(name string) *framework.App {
		app := f.app(framework.AppOptions{Name: name}, trafficTrigger)
		if _, err := f.ns.CreateIngress(ctx, framework.IngressOptions{Name: name, Host: name + ".traffic.example.test", Service: name, PortName: "http"}); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.WaitIngress(ctx, f.ns.Name, name); err != nil {
			t.Fatal(err)
		}
		return app
	}
	idle, trickle, busy := hosted("idle"), hosted("trickle"), hosted("busy")
	step(t, start, "three services in serve mode behind Traefik, Prometheus not running")

	via := tr.Client(true)
	trickleLoad := framework.StartLoad(ctx, via, "http://trickle.traffic.example.test/", 1, 10*time.Second, framework.AppMessage("trickle"))
	busyLoad := framework.StartLoad(ctx, via, "http://busy.traffic.example.test/", 5, 50*time.Millisecond, framework.AppMessage("busy"))
	defer trickleLoad.Stop()
	defer busyLoad.Stop()

	var wg sync.WaitGroup
	var idleErr error
	wg.Go(func() {
		st, err := idle.WaitState(ctx, env.Config.Scale(4*time.Minute), "the idle service scaled to zero by the traffic trigger", framework.AtZeroInProxyMode)
		if err != nil {
			idleErr = err
			return
		}
		step(t, start, "idle: scaled to zero (%s)", st)
	})

	// Watch both loaded services for the whole run: the trickle one never at zero, and the time
	// the busy one spends in proxy mode.
	type watch struct {
		samples, proxy, trickleAtZero int
		observations                  int
		lastMode                      elastiv1.Mode
	}
	var w watch
	deadline := time.Now().Add(trafficRun)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if es, err := busy.GetElastiService(ctx); err == nil {
			w.samples++
			if es.Status.Mode == elastiv1.ModeProxy {
				w.proxy++
				if w.lastMode != elastiv1.ModeProxy {
					w.observations++
				}
			}
			w.lastMode = es.Status.Mode
		}
		if st, err := trickle.State(ctx); err == nil && st.SpecReplicas == 0 {
			w.trickleAtZero++
		}
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()
	if idleErr != nil {
		t.Error(idleErr)
	} else {
		r, err := framework.Get(ctx, tr.Client(false), "http://idle.traffic.example.test/")
		if err != nil || r.Status != http.StatusOK || !strings.Contains(r.Body, framework.AppMessage("idle")) {
			t.Errorf("waking the idle service through Traefik: %v %+v", err, r)
		} else {
			step(t, start, "idle: woken through Traefik by a request in %s", r.Duration)
		}
	}
	busyRes, trickleRes := busyLoad.Stop(), trickleLoad.Stop()
	share := float64(w.proxy) / float64(max(w.samples, 1))
	step(t, start, "busy: %s; in proxy mode %.1f %% of %d samples over %s, in %d observations", busyRes, 100*share, w.samples, trafficRun, w.observations)
	step(t, start, "trickle: %s; samples at zero: %d", trickleRes, w.trickleAtZero)
	if es, err := busy.GetElastiService(ctx); err == nil && es.Status.Traffic != nil {
		step(t, start, "busy: status.traffic %+v", *es.Status.Traffic)
	}
	if busyRes.Failures() > 0 {
		t.Errorf("requests to the busy service failed: %s", busyRes)
	}
	if trickleRes.Failures() > 0 {
		t.Errorf("requests to the trickle service failed: %s", trickleRes)
	}
	if w.trickleAtZero > 0 {
		t.Errorf("the service with a request every 10 s was scaled to zero (%d samples at zero)", w.trickleAtZero)
	}
	if share > 0.05 {
		t.Errorf("the busy service spent %.1f %% of the run in proxy mode, more than 5 %%", 100*share)
	}
	if w.observations == 0 {
		t.Errorf("the busy service was never observed: the test proves nothing about the time in proxy mode")
	}
	if !hasEvent(t, f, busy.Name, "ObservationEnded") {
		t.Errorf("no ObservationEnded Event on the busy service")
	}
}

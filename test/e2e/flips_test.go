//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// TestFlipsUnderLoad: with a trigger that always says idle (cooldown 0) and a steady load through
// the gateway, the operator scales the app to zero (proxy first) and the load wakes it again, over
// and over. After 20 serve→proxy→serve flips, not one request failed.
func TestFlipsUnderLoad(t *testing.T) {
	f := setup(t, "flips", 1)
	p := requirePrometheus(t, f.ctx)
	app := f.app(framework.AppOptions{Name: "app", StartupDelay: 200 * time.Millisecond}, nil)
	sw, err := watchSlices(f.ctx, f.ns.Name, app.Name)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	load := framework.StartLoad(f.ctx, f.gw.keepOpen, f.url(app, 0, "/"), 4, 20*time.Millisecond, framework.AppMessage("app"))
	defer load.Stop()
	// The trigger comes once the load runs, so the first scale-down already happens under load.
	f.alwaysIdle(app, p)
	flips, err := countFlips(f.ctx, app, 20, env.Config.Scale(6*time.Minute), func(n int, st *framework.State) {
		ok, failed := load.Snapshot()
		step(t, start, "flip %d (%s): %d ok, %d failed so far", n, st.Mode, ok, failed)
	})
	res := load.Stop()
	step(t, start, "%d flips; load: %s", flips, res)
	for _, g := range sw.stop() {
		t.Logf("the Service had no ready endpoint in any EndpointSlice from %s", g)
	}
	if err != nil {
		t.Error(err)
	}
	if res.Failures() != 0 {
		t.Fatalf("%d requests failed during %d flips: %s", res.Failures(), flips, res)
	}
	if res.OK == 0 {
		t.Fatal("no request succeeded")
	}
}

// alwaysIdle gives the app's ElastiService a trigger that always says idle (with the cooldown of
// ElastiServiceFor, 0), so the operator scales it to zero whenever it is up.
func (f *fixture) alwaysIdle(app *framework.App, p *framework.Prometheus) {
	f.t.Helper()
	es, err := app.GetElastiService(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	es.Spec.Triggers = []elastiv1.ScaleTrigger{framework.PrometheusTrigger(p.InClusterURL, "vector(0)", "1", "")}
	if err := env.Client.Update(f.ctx, es); err != nil {
		f.t.Fatal(err)
	}
}

// countFlips polls the app every 100 ms and counts completed serve→proxy→serve cycles, from the
// mode in status and from lastScaledDownTime (a flip shorter than a poll is still counted).
func countFlips(ctx context.Context, app *framework.App, want int, timeout time.Duration, each func(int, *framework.State)) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	flips, sawProxy := 0, false
	var lastDown time.Time
	for flips < want {
		select {
		case <-ctx.Done():
			return flips, fmt.Errorf("only %d of %d flips within %s", flips, want, timeout)
		case <-time.After(100 * time.Millisecond):
		}
		st, err := app.State(ctx)
		if err != nil {
			continue
		}
		es, err := app.GetElastiService(ctx)
		if err != nil {
			continue
		}
		if d := es.Status.LastScaledDownTime; d != nil && d.After(lastDown) {
			lastDown, sawProxy = d.Time, true
		}
		if st.Mode == elastiv1.ModeProxy {
			sawProxy = true
		}
		if sawProxy && st.Mode == elastiv1.ModeServe {
			flips++
			sawProxy = false
			each(flips, st)
		}
	}
	return flips, nil
}

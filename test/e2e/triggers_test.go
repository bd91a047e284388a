//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// rateQuery is the rate of requests to the app's "/" as Prometheus sees it (0 when it has no
// samples). Only "/" counts: the kubelet's readiness probe alone calls /healthz once a second.
func rateQuery(ns, app string) string {
	return fmt.Sprintf(`sum(rate(demo_requests_total{namespace=%q,app=%q,path="/"}[5s])) or vector(0)`, ns, app)
}

// waitPrometheusSees waits until Prometheus reports the app busy (rate above 1/s).
func waitPrometheusSees(t *testing.T, f *fixture, p *framework.Prometheus, q string) {
	t.Helper()
	err := framework.Poll(f.ctx, env.Config.Scale(60*time.Second), 500*time.Millisecond, "Prometheus to see the load",
		func(ctx context.Context) (bool, string, error) {
			v, err := p.Query(ctx, q)
			return err == nil && len(v) == 1 && v[0] > 1, fmt.Sprintf("%s = %v", q, v), err
		})
	if err != nil {
		t.Fatal(err)
	}
}

// neverAtZero is a framework.Never check: the target was scaled to zero.
func neverAtZero(app *framework.App, sawUnhealthy *bool) framework.Check {
	return func(ctx context.Context) (bool, string, error) {
		st, err := app.State(ctx)
		if err != nil {
			return false, "", err
		}
		if st.Condition(elastiv1.ConditionTriggersHealthy) == metav1.ConditionFalse && sawUnhealthy != nil {
			*sawUnhealthy = true
		}
		return st.SpecReplicas == 0, st.String(), nil
	}
}

// TestTriggerScaleToZero: a real Prometheus scrapes the demo app. While it serves about 20 requests a
// second (2 clients, 100 ms apart) the target stays up; once the load stops, the trigger says idle and after the cooldown
// the Service is in proxy mode with the target at zero.
func TestTriggerScaleToZero(t *testing.T) {
	f := setup(t, "trigger", 1)
	p := requirePrometheus(t, f.ctx)
	q := rateQuery(f.ns.Name, "app")
	app := f.app(framework.AppOptions{Name: "app"}, func(es *elastiv1.ElastiService) {
		es.Spec.CooldownPeriod = ptr.To[int32](10)
		es.Spec.Triggers = []elastiv1.ScaleTrigger{framework.PrometheusTrigger(p.InClusterURL, q, "1", `job="prometheus"`)}
	})
	start := time.Now()
	load := framework.StartLoad(f.ctx, f.gw.keepOpen, f.url(app, 0, "/"), 2, 100*time.Millisecond, framework.AppMessage("app"))
	waitPrometheusSees(t, f, p, q)
	step(t, start, "Prometheus sees the load")
	err := framework.Never(f.ctx, env.Config.Scale(30*time.Second), 250*time.Millisecond, "the busy target was scaled to zero", neverAtZero(app, nil))
	res := load.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if res.Failures() > 0 {
		t.Errorf("requests failed while the app was busy: %s", res)
	}
	step(t, start, "busy for 30 s without a scale-down; load stopped (%s)", res)
	st, err := app.WaitState(f.ctx, env.Config.Scale(120*time.Second), "scale to zero once idle", framework.AtZeroInProxyMode)
	if err != nil {
		t.Fatal(err)
	}
	step(t, start, "scaled to zero by the trigger: %s", st)
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("app"))
}

// TestTriggerErrorNeverScalesDown: a trigger whose Prometheus cannot be reached makes
// TriggersHealthy False with a TriggerError Event, and the target is never scaled down, even with a
// cooldown of 0.
func TestTriggerErrorNeverScalesDown(t *testing.T) {
	f := setup(t, "trigerr", 1)
	app := f.app(framework.AppOptions{Name: "app"}, func(es *elastiv1.ElastiService) {
		es.Spec.Triggers = []elastiv1.ScaleTrigger{framework.PrometheusTrigger("http://127.0.0.1:1", "vector(0)", "1", "")}
	})
	if _, err := app.WaitState(f.ctx, env.Config.Scale(90*time.Second), "TriggersHealthy=False", func(s *framework.State) bool {
		return s.Condition(elastiv1.ConditionTriggersHealthy) == metav1.ConditionFalse
	}); err != nil {
		t.Fatal(err)
	}
	if err := framework.Never(f.ctx, env.Config.Scale(30*time.Second), 250*time.Millisecond, "scaled to zero while the trigger errs", neverAtZero(app, nil)); err != nil {
		t.Fatal(err)
	}
	if !hasEvent(t, f, app.Name, "TriggerError") {
		t.Errorf("no TriggerError Event on the ElastiService")
	}
}

// TestPrometheusRestartNeverScalesDown: the app is busy; Prometheus is stopped for 25 s (longer
// than the 20 s cooldown) and comes back without history. Neither the outage nor the empty history
// of the new Prometheus (guarded by uptimeFilter: not trusted before it has been up for the
// cooldown) scales the busy target down; the user sees TriggersHealthy=False meanwhile. Once the
// load stops, it is scaled to zero as usual.
func TestPrometheusRestartNeverScalesDown(t *testing.T) {
	f := setup(t, "promrestart", 1)
	p := requirePrometheus(t, f.ctx)
	q := rateQuery(f.ns.Name, "app")
	app := f.app(framework.AppOptions{Name: "app"}, func(es *elastiv1.ElastiService) {
		es.Spec.CooldownPeriod = ptr.To[int32](20)
		es.Spec.Triggers = []elastiv1.ScaleTrigger{framework.PrometheusTrigger(p.InClusterURL, q, "1", `job="prometheus"`)}
	})
	start := time.Now()
	load := framework.StartLoad(f.ctx, f.gw.keepOpen, f.url(app, 0, "/"), 2, 100*time.Millisecond, framework.AppMessage("app"))
	defer load.Stop()
	waitPrometheusSees(t, f, p, q)
	if err := p.SetReplicas(f.ctx, 0); err != nil {
		t.Fatal(err)
	}
	step(t, start, "Prometheus stopped")
	unhealthy := false
	watch := func(d time.Duration) {
		if err := framework.Never(f.ctx, d, 200*time.Millisecond, "scaled to zero during the Prometheus restart", neverAtZero(app, &unhealthy)); err != nil {
			_ = p.SetReplicas(context.Background(), 1)
			t.Fatal(err)
		}
	}
	watch(env.Config.Scale(25 * time.Second))
	if err := p.SetReplicas(f.ctx, 1); err != nil {
		t.Fatal(err)
	}
	step(t, start, "Prometheus starting again")
	if err := p.WaitReady(f.ctx); err != nil {
		t.Fatal(err)
	}
	watch(env.Config.Scale(30 * time.Second))
	step(t, start, "no scale-down across the restart (TriggersHealthy=False seen: %v)", unhealthy)
	if !unhealthy {
		t.Errorf("TriggersHealthy never became False while Prometheus was down")
	}
	res := load.Stop()
	if res.Failures() > 0 {
		t.Errorf("requests failed: %s", res)
	}
	if _, err := app.WaitState(f.ctx, env.Config.Scale(120*time.Second), "scale to zero once idle", framework.AtZeroInProxyMode); err != nil {
		t.Fatal(err)
	}
}

// hasEvent reports whether an Event with the reason exists for the named ElastiService.
func hasEvent(t *testing.T, f *fixture, name, reason string) bool {
	t.Helper()
	var found bool
	_ = framework.Poll(f.ctx, env.Config.Scale(10*time.Second), 500*time.Millisecond, "event "+reason,
		func(ctx context.Context) (bool, string, error) {
			evs, err := env.Kube.CoreV1().Events(f.ns.Name).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, "", err
			}
			found = containsEvent(evs.Items, "ElastiService", name, reason)
			return found, "", nil
		})
	return found
}

func containsEvent(evs []corev1.Event, kind, name, reason string) bool {
	for _, ev := range evs {
		if ev.InvolvedObject.Kind == kind && ev.InvolvedObject.Name == name && ev.Reason == reason {
			return true
		}
	}
	return false
}

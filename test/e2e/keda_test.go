//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

var scaledObjects = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}

// TestKEDAScaledObject runs a real KEDA (built from source, hack/neighbours.sh) with a real
// ScaledObject on the target: a cron trigger, active now, that asks for 2 replicas (min 1, max
// 3), evaluated by KEDA's operator and served to the HPA by KEDA's metrics API server. Elasti's
// trigger then goes idle: Elasti pauses the ScaledObject (paused-replicas "0", paused "true")
// before the target's replicas reach 0, KEDA reports it Paused and leaves the target at zero
// although its trigger still asks for 2. A request wakes it: Elasti unpauses, KEDA scales it to 2
// again and, asked for 5, to its max of 3; replicas then stay put and Elasti stays in serve mode.
func TestKEDAScaledObject(t *testing.T) {
	requireEnv(t)
	requireNeighbour(t, context.Background(), "keda")
	f := setup(t, "keda", 1)
	p := requirePrometheus(t, f.ctx)
	start := time.Now()
	app, err := f.ns.DeployApp(f.ctx, framework.AppOptions{Name: "app", StartupDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	createScaledObject(t, f, 2)
	tl := watchReplicas(f, app.Name, true)
	defer tl.stop()
	waitSpecReplicas(t, f, app.Name, 2, "KEDA to scale the target to its cron trigger's 2")
	step(t, start, "KEDA scaled the target to 2 (HPA %s)", hpaSummary(t, f, "keda-hpa-app"))

	busy := idleToZero(t, f, p, app, elastiv1.AutoscalerKEDA)
	ann := scaledObjectAnnotations(t, f)
	if ann[names.KEDAPausedReplicasAnnotation] != "0" || ann[names.KEDAPausedAnnotation] != "true" {
		t.Fatalf("ScaledObject at zero has annotations %v, want %s=0 and %s=true", ann, names.KEDAPausedReplicasAnnotation, names.KEDAPausedAnnotation)
	}
	if paused, zero := tl.first(func(e tlEvent) bool { return e.paused }), tl.first(func(e tlEvent) bool { return e.replicas == 0 }); paused.IsZero() || zero.Before(paused) {
		t.Errorf("replicas reached 0 at %s, the ScaledObject was first seen paused at %s: Elasti must pause KEDA first\n%s", stamp(zero, start), stamp(paused, start), tl.String(start))
	}
	waitKEDACondition(t, f, "Paused", "True")
	step(t, start, "at zero; ScaledObject paused (%v), KEDA reports Paused=True", ann)
	if err := framework.Never(f.ctx, env.Config.Scale(20*time.Second), 250*time.Millisecond, "the target scaled up while paused at zero", specReplicasNot(f, app.Name, 0)); err != nil {
		t.Fatal(err)
	}
	step(t, start, "KEDA left the target at zero for 20 s although its trigger asks for 2")

	setTrigger(t, f, app, busy) // so that Elasti does not scale the woken target down again
	f.waitNoAppPods(app)
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("app"))
	step(t, start, "a request woke the target")
	waitUnpaused(t, f)
	waitKEDACondition(t, f, "Paused", "False")
	waitSpecReplicas(t, f, app.Name, 2, "KEDA to scale the woken target to 2 again")
	step(t, start, "unpaused; KEDA scaled the target to 2 (HPA %s)", hpaSummary(t, f, "keda-hpa-app"))
	setCronReplicas(t, f, 5)
	waitSpecReplicas(t, f, app.Name, 3, "KEDA to scale the target to its max of 3 (the trigger asks for 5)")
	step(t, start, "KEDA scaled the target to its max 3")
	stable(t, f, app, 3, 40*time.Second)
	step(t, start, "replicas stayed at 3 and Elasti in serve mode for 40 s\n%s", tl.String(start))

}

// TestHPA: an ElastiService whose autoscaler is a plain HorizontalPodAutoscaler (min 2, max 4, on
// CPU). The local cluster has no metrics-server, so the HPA cannot compute a CPU-based count;
// what is proven is what does not need metrics: the HPA holds the target at its minimum, leaves a
// target Elasti scaled to zero alone (ScalingActive=False, ScalingDisabled) instead of scaling it
// back, and after a wake-up (Elasti scales to minTargetReplicas 1) raises it to its minimum 2,
// where it stays while Elasti stays in serve mode.
func TestHPA(t *testing.T) {
	f := setup(t, "hpa", 1)
	p := requirePrometheus(t, f.ctx)
	start := time.Now()
	app, err := f.ns.DeployApp(f.ctx, framework.AppOptions{Name: "app", StartupDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "app"},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 4,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)},
			}}},
		},
	}
	if _, err := env.Kube.AutoscalingV2().HorizontalPodAutoscalers(f.ns.Name).Create(f.ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tl := watchReplicas(f, app.Name, false)
	defer tl.stop()
	waitSpecReplicas(t, f, app.Name, 2, "the HPA to raise the target to its minimum 2")
	step(t, start, "HPA raised the target to 2 (%s)", hpaSummary(t, f, "app"))

	busy := idleToZero(t, f, p, app, elastiv1.AutoscalerHPA)
	if err := framework.Never(f.ctx, env.Config.Scale(25*time.Second), 250*time.Millisecond, "the HPA scaled the target up at zero", specReplicasNot(f, app.Name, 0)); err != nil {
		t.Fatal(err)
	}
	step(t, start, "at zero for 25 s, the HPA did not scale it back (%s)", hpaSummary(t, f, "app"))
	setTrigger(t, f, app, busy)
	f.waitNoAppPods(app)
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("app"))
	waitSpecReplicas(t, f, app.Name, 2, "the HPA to raise the woken target to its minimum 2")
	step(t, start, "woken; the HPA raised it to 2 (%s)", hpaSummary(t, f, "app"))
	stable(t, f, app, 2, 30*time.Second)
	step(t, start, "replicas stayed at 2 and Elasti in serve mode for 30 s\n%s", tl.String(start))
}

// idleToZero puts an ElastiService on app (autoscaler kind) with a busy trigger, waits for serve
// mode, then turns the trigger idle and waits until Elasti has scaled the target to zero. It
// returns the busy trigger (set again after a wake-up, so that Elasti keeps the target up).
func idleToZero(t *testing.T, f *fixture, p *framework.Prometheus, app *framework.App, kind elastiv1.AutoscalerType) elastiv1.ScaleTrigger {
	t.Helper()
	busy := framework.PrometheusTrigger(p.InClusterURL, "vector(5)", "1", "")
	idle := framework.PrometheusTrigger(p.InClusterURL, "vector(0)", "1", "")
	if err := env.CreateElastiService(f.ctx, elastiServiceWith(app, kind, busy)); err != nil {
		t.Fatal(err)
	}
	if _, err := app.WaitState(f.ctx, env.Config.Scale(90*time.Second), "serve mode", framework.InServeMode); err != nil {
		t.Fatal(err)
	}
	f.waitProgrammed(app)
	setTrigger(t, f, app, idle)
	if _, err := app.WaitState(f.ctx, env.Config.Scale(2*time.Minute), "scale to zero by the idle trigger", framework.AtZeroInProxyMode); err != nil {
		t.Fatal(err)
	}
	return busy
}

func elastiServiceWith(app *framework.App, kind elastiv1.AutoscalerType, trigger elastiv1.ScaleTrigger) *elastiv1.ElastiService {
	es := framework.ElastiServiceFor(app)
	es.Spec.CooldownPeriod = ptr.To[int32](5)
	es.Spec.Autoscaler = &elastiv1.AutoscalerSpec{Type: kind, Name: app.Name}
	es.Spec.Triggers = []elastiv1.ScaleTrigger{trigger}
	return es
}

func setTrigger(t *testing.T, f *fixture, app *framework.App, trigger elastiv1.ScaleTrigger) {
	t.Helper()
	es, err := app.GetElastiService(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	es.Spec.Triggers = []elastiv1.ScaleTrigger{trigger}
	if err := env.Client.Update(f.ctx, es); err != nil {
		t.Fatal(err)
	}
}

// cronWindow is a cron trigger window that is open now and for the next hour (UTC).
func cronWindow(now time.Time) (start, end string) {
	s, e := now.UTC().Add(-2*time.Minute), now.UTC().Add(time.Hour)
	return fmt.Sprintf("%d %d * * *", s.Minute(), s.Hour()), fmt.Sprintf("%d %d * * *", e.Minute(), e.Hour())
}

func createScaledObject(t *testing.T, f *fixture, desired int) {
	t.Helper()
	from, to := cronWindow(time.Now())
	so := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
		"metadata": map[string]any{"name": "app", "namespace": f.ns.Name},
		"spec": map[string]any{
			"scaleTargetRef":  map[string]any{"name": "app"},
			"minReplicaCount": int64(1), "maxReplicaCount": int64(3),
			"pollingInterval": int64(5), "cooldownPeriod": int64(30),
			"triggers": []any{map[string]any{"type": "cron", "metadata": map[string]any{
				"timezone": "Etc/UTC", "start": from, "end": to, "desiredReplicas": fmt.Sprint(desired),
			}}},
		},
	}}
	if _, err := env.Dynamic.Resource(scaledObjects).Namespace(f.ns.Name).Create(f.ctx, so, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the ScaledObject: %v", err)
	}
}

func setCronReplicas(t *testing.T, f *fixture, desired int) {
	t.Helper()
	res := env.Dynamic.Resource(scaledObjects).Namespace(f.ns.Name)
	so, err := res.Get(f.ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	triggers, _, _ := unstructured.NestedSlice(so.Object, "spec", "triggers")
	triggers[0].(map[string]any)["metadata"].(map[string]any)["desiredReplicas"] = fmt.Sprint(desired)
	_ = unstructured.SetNestedSlice(so.Object, triggers, "spec", "triggers")
	if _, err := res.Update(f.ctx, so, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func scaledObjectAnnotations(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	so, err := env.Dynamic.Resource(scaledObjects).Namespace(f.ns.Name).Get(f.ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the ScaledObject: %v", err)
	}
	return so.GetAnnotations()
}

// waitKEDACondition waits until KEDA reports the ScaledObject's condition typ as status.
func waitKEDACondition(t *testing.T, f *fixture, typ, status string) {
	t.Helper()
	err := framework.Poll(f.ctx, env.Config.Scale(time.Minute), 250*time.Millisecond, "KEDA to report the ScaledObject "+typ+"="+status,
		func(ctx context.Context) (bool, string, error) {
			so, err := env.Dynamic.Resource(scaledObjects).Namespace(f.ns.Name).Get(ctx, "app", metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			st, reason := certCondition(so, typ)
			return st == status, typ + "=" + st + " " + reason, nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

func waitUnpaused(t *testing.T, f *fixture) {
	t.Helper()
	err := framework.Poll(f.ctx, env.Config.Scale(30*time.Second), 200*time.Millisecond, "the ScaledObject to be unpaused",
		func(ctx context.Context) (bool, string, error) {
			ann := scaledObjectAnnotations(t, f)
			_, a := ann[names.KEDAPausedAnnotation]
			_, b := ann[names.KEDAPausedReplicasAnnotation]
			return !a && !b, fmt.Sprintf("annotations %v", ann), nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

func specReplicas(ctx context.Context, ns, name string) (int32, error) {
	d, err := env.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	return ptr.Deref(d.Spec.Replicas, 1), nil
}

func waitSpecReplicas(t *testing.T, f *fixture, name string, want int32, what string) {
	t.Helper()
	err := framework.Poll(f.ctx, env.Config.Scale(2*time.Minute), 250*time.Millisecond, what,
		func(ctx context.Context) (bool, string, error) {
			n, err := specReplicas(ctx, f.ns.Name, name)
			return err == nil && n == want, fmt.Sprintf("spec.replicas=%d", n), err
		})
	if err != nil {
		t.Fatal(err)
	}
}

func specReplicasNot(f *fixture, name string, want int32) framework.Check {
	return func(ctx context.Context) (bool, string, error) {
		n, err := specReplicas(ctx, f.ns.Name, name)
		return err == nil && n != want, fmt.Sprintf("spec.replicas=%d", n), err
	}
}

// stable: for d, the target keeps want replicas and the ElastiService stays in serve mode.
func stable(t *testing.T, f *fixture, app *framework.App, want int32, d time.Duration) {
	t.Helper()
	err := framework.Never(f.ctx, d, 250*time.Millisecond, "replicas or mode changed", func(ctx context.Context) (bool, string, error) {
		st, err := app.State(ctx)
		if err != nil {
			return false, "", err
		}
		return st.SpecReplicas != want || st.Mode != elastiv1.ModeServe, st.String(), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func hpaSummary(t *testing.T, f *fixture, name string) string {
	t.Helper()
	h, err := env.Kube.AutoscalingV2().HorizontalPodAutoscalers(f.ns.Name).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	var conds []string
	for _, c := range h.Status.Conditions {
		conds = append(conds, fmt.Sprintf("%s=%s(%s)", c.Type, c.Status, c.Reason))
	}
	var metrics []string
	for _, m := range h.Status.CurrentMetrics {
		if m.External != nil {
			metrics = append(metrics, fmt.Sprintf("%s=%s", m.External.Metric.Name, m.External.Current.AverageValue))
		}
	}
	return fmt.Sprintf("min=%d max=%d current=%d desired=%d metrics=%v %s", ptr.Deref(h.Spec.MinReplicas, 1), h.Spec.MaxReplicas,
		h.Status.CurrentReplicas, h.Status.DesiredReplicas, metrics, strings.Join(conds, " "))
}

// timeline records, every 100 ms, the target's spec.replicas and (with keda) whether its
// ScaledObject is paused, keeping each change.
type timeline struct {
	mu     sync.Mutex
	events []tlEvent
	cancel context.CancelFunc
	done   chan struct{}
}

type tlEvent struct {
	at       time.Time
	replicas int32
	paused   bool
}

func watchReplicas(f *fixture, name string, keda bool) *timeline {
	ctx, cancel := context.WithCancel(f.ctx)
	tl := &timeline{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(tl.done)
		for ctx.Err() == nil {
			n, err := specReplicas(ctx, f.ns.Name, name)
			paused := false
			if keda && err == nil {
				so, e := env.Dynamic.Resource(scaledObjects).Namespace(f.ns.Name).Get(ctx, name, metav1.GetOptions{})
				err = e
				paused = e == nil && so.GetAnnotations()[names.KEDAPausedAnnotation] == "true"
			}
			if err == nil {
				tl.add(tlEvent{at: time.Now(), replicas: n, paused: paused})
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return tl
}

func (tl *timeline) add(e tlEvent) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if n := len(tl.events); n > 0 && tl.events[n-1].replicas == e.replicas && tl.events[n-1].paused == e.paused {
		return
	}
	tl.events = append(tl.events, e)
}

// first is when the first event matching ok was seen (zero if never).
func (tl *timeline) first(ok func(tlEvent) bool) time.Time {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, e := range tl.events {
		if ok(e) {
			return e.at
		}
	}
	return time.Time{}
}

func (tl *timeline) String(start time.Time) string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var b strings.Builder
	b.WriteString("replicas timeline:")
	for _, e := range tl.events {
		fmt.Fprintf(&b, " [%s replicas=%d paused=%v]", stamp(e.at, start), e.replicas, e.paused)
	}
	return b.String()
}

func (tl *timeline) stop() {
	tl.cancel()
	<-tl.done
}

func stamp(at, start time.Time) string {
	if at.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%.2fs", at.Sub(start).Seconds())
}

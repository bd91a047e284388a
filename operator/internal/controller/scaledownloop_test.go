package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/scaling"
)

type fakeScaler struct {
	spec   int32
	toZero int
}

func (f *fakeScaler) GetReplicas(context.Context, string, v1alpha1.ScaleTargetRef) (int32, int32, error) {
	return f.spec, f.spec, nil
}
func (f *fakeScaler) ScaleUp(context.Context, *v1alpha1.ElastiService) (scaling.ScaleResult, error) {
	return scaling.ScaleResult{}, nil
}
func (f *fakeScaler) ScaleToZero(context.Context, *v1alpha1.ElastiService) error {
	f.toZero++
	return nil
}

type scriptedEvaluator struct {
	idle bool
	err  error
}

func (s scriptedEvaluator) Idle(context.Context, *v1alpha1.ElastiService) (bool, error) {
	return s.idle, s.err
}

// TestScaleDownDecision covers steps 1–4 of the loop with an injected clock: every case ends
// before the switch to proxy mode (which needs an API server; see the integration tests), so none
// may scale anything.
func TestScaleDownDecision(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	base := func() *v1alpha1.ElastiService {
		return &v1alpha1.ElastiService{
			ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop", UID: "orders-uid", CreationTimestamp: metav1.NewTime(t0)},
			Spec: v1alpha1.ElastiServiceSpec{Service: "orders", CooldownPeriod: ptr.To[int32](300),
				ScaleTargetRef: v1alpha1.ScaleTargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "orders"},
				Triggers:       []v1alpha1.ScaleTrigger{{Type: v1alpha1.TriggerTypePrometheus}}},
		}
	}
	outside := func(*v1alpha1.EnabledPeriod, time.Time) (bool, error) { return false, nil }
	tests := []struct {
		name        string
		es          func(*v1alpha1.ElastiService)
		eval        scriptedEvaluator
		period      func(*v1alpha1.EnabledPeriod, time.Time) (bool, error)
		elapsed     time.Duration
		wantBlocked string
		wantHealthy *bool
		wantEvent   string
		older       bool // an older ElastiService names the same Service
		atZero      bool // the cache shows the target at zero
	}{
		{name: "target at zero in the cache: nothing evaluated", eval: scriptedEvaluator{idle: true}, elapsed: time.Hour, atZero: true},
		{name: "idle within cooldown", eval: scriptedEvaluator{idle: true}, elapsed: 4 * time.Minute, wantHealthy: ptr.To(true)},
		{name: "idle past cooldown, no sidecar", eval: scriptedEvaluator{idle: true}, elapsed: 6 * time.Minute,
			wantBlocked: ReasonNoReadySidecars, wantHealthy: ptr.To(true)},
		{name: "recent activity annotation restarts cooldown", eval: scriptedEvaluator{idle: true}, elapsed: 6 * time.Minute,
			es: func(es *v1alpha1.ElastiService) {
				es.Annotations = map[string]string{names.AnnotationLastActivity: t0.Add(5 * time.Minute).Format(time.RFC3339)}
			}, wantHealthy: ptr.To(true)},
		{name: "recent scale-up restarts cooldown", eval: scriptedEvaluator{idle: true}, elapsed: 6 * time.Minute,
			es: func(es *v1alpha1.ElastiService) {
				es.Status.LastScaledUpTime = &metav1.Time{Time: t0.Add(2 * time.Minute)}
			}, wantHealthy: ptr.To(true)},
		// Scaled up from zero, no pod ready yet: never scaled down before it could serve.
		{name: "idle past cooldown, but waking", eval: scriptedEvaluator{idle: true}, elapsed: 6 * time.Minute,
			es: func(es *v1alpha1.ElastiService) { es.Status.Mode = v1alpha1.ModeProxy }, wantHealthy: ptr.To(true)},
		{name: "an older ElastiService manages the Service", eval: scriptedEvaluator{idle: true}, elapsed: 6 * time.Minute, older: true},
		{name: "active", eval: scriptedEvaluator{idle: false}, elapsed: time.Hour, wantHealthy: ptr.To(true)},
		{name: "trigger error never scales down", eval: scriptedEvaluator{err: errors.New("prometheus down")}, elapsed: time.Hour,
			wantHealthy: ptr.To(false), wantEvent: "TriggerError"},
		{name: "outside enabledPeriod", eval: scriptedEvaluator{idle: true}, period: outside, elapsed: time.Hour,
			es: func(es *v1alpha1.ElastiService) {
				es.Spec.EnabledPeriod = &v1alpha1.EnabledPeriod{Schedule: "0 9 * * *", Duration: "1h"}
			}, wantBlocked: ReasonOutsideEnabledPeriod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := base()
			if tt.es != nil {
				tt.es(es)
			}
			// The target, up: the loop reads its replicas from the cache (the fake client here).
			replicas := int32(1)
			if tt.atZero {
				replicas = 0
			}
			target := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop"}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)}}
			objs := []client.Object{es, target}
			if tt.older {
				first := base()
				first.Name, first.UID, first.CreationTimestamp = "orders-first", "first-uid", metav1.NewTime(t0.Add(-time.Hour))
				first.Spec.Triggers = nil // it never scales down; the younger one must not either
				objs = append(objs, first)
			}
			c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithIndex(&v1alpha1.ElastiService{}, indexService, serviceIndexValue).
				WithObjects(objs...).WithStatusSubresource(es).Build()
			scaler := &fakeScaler{spec: 1}
			rec := events.NewFakeRecorder(10)
			r := &Reconciler{Client: c, Scaler: scaler, Recorder: rec, Tracker: NewTracker()}
			now := t0
			loop := &ScaleDownLoop{Controller: r, Scaler: scaler, Tracker: r.Tracker, APIReader: c, Evaluator: tt.eval, InEnabledPeriod: tt.period,
				Now: func() time.Time { return now }}
			loop.Poll(context.Background()) // becomes leader at t0: the cooldown starts here
			now = t0.Add(tt.elapsed)
			loop.Poll(context.Background())

			key := client.ObjectKeyFromObject(es)
			assert.Zero(t, scaler.toZero)
			assert.False(t, r.Tracker.Draining(key))
			blocked, _ := r.Tracker.Blocked(key)
			assert.Equal(t, tt.wantBlocked, blocked.Reason)
			trig, evaluated := r.Tracker.Triggers(key)
			if tt.wantHealthy == nil {
				assert.False(t, evaluated)
			} else {
				require.True(t, evaluated)
				assert.Equal(t, *tt.wantHealthy, trig.Healthy)
			}
			if tt.wantEvent != "" {
				require.NotEmpty(t, rec.Events)
				assert.Contains(t, <-rec.Events, tt.wantEvent)
			}
		})
	}
}

func TestSidecarChangedPredicate(t *testing.T) {
	pod := sidecarPod("gw", []string{"10.0.0.1"}, true, true, 0)
	annotated := *pod.DeepCopy()
	annotated.Annotations = map[string]string{"example.com/note": "shop/orders"}
	unready := sidecarPod("gw", []string{"10.0.0.1"}, false, true, 0)
	deleted := *pod.DeepCopy()
	deleted.DeletionTimestamp = &metav1.Time{}
	moved := sidecarPod("gw", []string{"10.0.0.2"}, true, true, 0)
	plain := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app"}}
	p := sidecarChanged()
	tests := []struct {
		name     string
		old, new corev1.Pod
		want     bool
	}{
		{"an annotation only", pod, annotated, false},
		// Container readiness does not place a sidecar (its stream does: package acks).
		{"container readiness", pod, unready, false},
		{"pod deleted", pod, deleted, true},
		{"new IP after restart", pod, moved, true},
		{"not a sidecar", plain, plain, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, p.Update(updateEvent(&tt.old, &tt.new)))
		})
	}
}

func updateEvent(old, new client.Object) event.UpdateEvent {
	return event.UpdateEvent{ObjectOld: old, ObjectNew: new}
}

package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/operator/internal/traffic"
)

// DefaultObserveInterval is how often the leader looks at the services under observation.
const DefaultObserveInterval = time.Second

// Reasons of the traffic trigger's Events.
const (
	ReasonObservationStarted = "ObservationStarted"
	ReasonObservationEnded   = "ObservationEnded"
)

// TrafficMeter measures the requests the sidecars forward, per Service key (*traffic.Meter).
type TrafficMeter interface {
	Look(ctx context.Context) error
	Track(key string)
	Untrack(key string)
	Rate(key string, since time.Time, window time.Duration) float64
}

// considerTraffic runs the traffic trigger of es (traffic.Decide) and carries out its decision.
// othersIdle says whether every other trigger says idle; fromPoll is false for the looks between
// polls at the services under observation, which reuse the last poll's othersIdle.
func (l *ScaleDownLoop) considerTraffic(ctx context.Context, es *v1alpha1.ElastiService, othersIdle bool, spec int32, fromPoll bool) {
	r := l.Controller
	key := client.ObjectKeyFromObject(es)
	tt := es.Spec.TrafficTrigger()
	threshold, err := tt.Metadata.TrafficThreshold()
	window, werr := tt.Metadata.TrafficWindow()
	if err = errors.Join(err, werr); err == nil && l.Traffic == nil {
		err = errors.New("this operator does not measure traffic")
	}
	if err != nil {
		l.stopObservation(ctx, es, "the traffic trigger cannot be used")
		l.triggerFailed(ctx, es, fmt.Errorf("traffic trigger: %w", err))
		return
	}
	st, _ := l.Tracker.Traffic(key)
	if fromPoll {
		st.OthersIdle = othersIdle
	}
	sidecars, err := l.readySidecars(ctx)
	if err != nil {
		log.FromContext(ctx).Error(err, "listing resolver sidecars")
		return
	}
	now := l.now()
	in := traffic.Input{
		Now: now, Cooldown: es.Spec.Cooldown(), Threshold: threshold, OthersIdle: st.OthersIdle,
		Serving: serving(es, spec), SidecarsReady: sidecars > 0,
		LastActive: l.trafficLastActive(es, key, st, threshold), ObservingSince: st.ObservingSince,
	}
	if st.observing() {
		in.Rate = l.Traffic.Rate(serviceKey(es), st.ObservingSince, window)
		st.Rate = traffic.FormatRate(in.Rate)
		trafficRate.WithLabelValues(key.Namespace, key.Name).Set(in.Rate)
	}
	d := traffic.Decide(in)
	log.FromContext(ctx).V(1).Info("traffic trigger", "action", d.Action.String(), "reason", d.Reason, "rate", st.Rate)
	if fromPoll && l.Tracker.SetTriggers(key, triggerState{Healthy: true, Message: "traffic trigger: " + d.Reason}) {
		r.Enqueue(ctx, es)
	}
	switch d.Action {
	case traffic.Wait:
		st.Next = d.Next
		if !st.OthersIdle {
			st.LastActive = now
		}
	case traffic.Observe:
		l.Traffic.Track(serviceKey(es))
		st.ObservingSince, st.Rate, st.Next = now, "0", time.Time{}
		r.event(es, "Normal", ReasonObservationStarted, "Observe", "%s; Service %s is in proxy mode for up to %s while its pods keep serving",
			d.Reason, es.Spec.Service, es.Spec.Cooldown())
	case traffic.KeepObserving:
	case traffic.Active, traffic.Stop:
		result := "stopped"
		if d.Action == traffic.Active {
			result, st.LastActive, st.Next = "active", now, now.Add(es.Spec.Cooldown())
		}
		st = l.endObservation(ctx, es, st, result, d.Reason+": back to serve mode")
	case traffic.ScaleToZero:
		l.Tracker.SetTraffic(key, st)
		scaled := l.scaleDown(ctx, es, now)
		st, _ = l.Tracker.Traffic(key)
		if scaled {
			st = l.endObservation(ctx, es, st, "idle", d.Reason+": scaled to zero")
		} else {
			st.LastActive, st.Next = l.now(), l.now().Add(es.Spec.Cooldown())
			st = l.endObservation(ctx, es, st, "cancelled", "the scale-down did not happen (see the ScaledToZero condition): back to serve mode")
		}
	}
	if l.Tracker.SetTraffic(key, st) {
		r.Enqueue(ctx, es)
	}
}

// endObservation ends es's observation (if one runs) and returns the state without it.
func (l *ScaleDownLoop) endObservation(ctx context.Context, es *v1alpha1.ElastiService, st trafficState, result, msg string) trafficState {
	if !st.observing() {
		return st
	}
	key := client.ObjectKeyFromObject(es)
	l.Traffic.Untrack(serviceKey(es))
	took := l.now().Sub(st.ObservingSince)
	trafficObservations.WithLabelValues(key.Namespace, key.Name, result).Inc()
	trafficObservationSeconds.WithLabelValues(key.Namespace, key.Name).Add(took.Seconds())
	l.Controller.event(es, "Normal", ReasonObservationEnded, "Observe", "%s (observed for %s)", msg, took.Round(100*time.Millisecond))
	log.FromContext(ctx).Info("observation ended", "result", result, "after", took, "detail", msg)
	st.ObservingSince = time.Time{}
	return st
}

// stopObservation ends es's observation, if one runs, without a verdict.
func (l *ScaleDownLoop) stopObservation(ctx context.Context, es *v1alpha1.ElastiService, why string) {
	key := client.ObjectKeyFromObject(es)
	st, ok := l.Tracker.Traffic(key)
	if !ok || !st.observing() {
		return
	}
	st = l.endObservation(ctx, es, st, "stopped", why+": back to serve mode")
	if l.Tracker.SetTraffic(key, st) {
		l.Controller.Enqueue(ctx, es)
	}
}

// observeTick looks at the services under observation between polls, so that a busy service
// returns to serve mode within about a second of its requests reaching the sidecars.
func (l *ScaleDownLoop) observeTick(ctx context.Context) {
	keys := l.Tracker.Observing()
	if len(keys) == 0 || l.Traffic == nil {
		return
	}
	if err := l.Traffic.Look(ctx); err != nil {
		log.FromContext(ctx).Error(err, "reading the replicas' traffic leases")
	}
	for _, key := range keys {
		es := &v1alpha1.ElastiService{}
		if err := l.Controller.Get(ctx, key, es); err != nil {
			if !apierrors.IsNotFound(err) {
				log.FromContext(ctx).Error(err, "reading elastiservice", "elastiservice", key)
			}
			continue // a deleted ElastiService is forgotten by the reconciler
		}
		ctx := log.IntoContext(ctx, log.FromContext(ctx).WithValues("elastiservice", key))
		if es.Spec.TrafficTrigger() == nil || !es.DeletionTimestamp.IsZero() {
			l.stopObservation(ctx, es, "the traffic trigger was removed")
			continue
		}
		spec, _, err := l.Scaler.GetReplicas(ctx, es.Namespace, es.Spec.ScaleTargetRef)
		if err != nil {
			spec = 0 // the target is gone: the observation stops
		}
		l.considerTraffic(ctx, es, false, spec, false)
	}
}

// serving: the target is up and the reconciler last saw a ready pod behind the Service (serve
// mode, or an observation).
func serving(es *v1alpha1.ElastiService, spec int32) bool {
	if spec == 0 {
		return false
	}
	for _, c := range es.Status.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			return c.Reason == ReasonTargetReady || c.Reason == ReasonObserving
		}
	}
	return false
}

// trafficLastActive is the latest sign of activity the traffic trigger counts: its own, the
// loop's (another trigger active, this leader's start), the last scale-up from zero, and, with a
// threshold of 0 (any request is activity), the elastiserver's last-activity annotation.
func (l *ScaleDownLoop) trafficLastActive(es *v1alpha1.ElastiService, key types.NamespacedName, st trafficState, threshold float64) time.Time {
	last := st.LastActive
	if t := l.lastActive[key]; t.After(last) {
		last = t
	}
	if t := es.Status.LastScaledUpTime; t != nil && t.After(last) {
		last = t.Time
	}
	if t, ok := annotatedActivity(es); ok && threshold == 0 && t.After(last) {
		last = t
	}
	return last
}

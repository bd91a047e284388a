package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
)

// Defaults of the loop's flags.
const (
	DefaultPollInterval      = 30 * time.Second
	DefaultSidecarAckTimeout = 10 * time.Second
	// ackPollInterval: how often the ack wait looks at the cache.
	ackPollInterval = 100 * time.Millisecond
)

// More reasons (ScaledToZero condition and Events).
const (
	ReasonOutsideEnabledPeriod = "OutsideEnabledPeriod"
	ReasonInvalidEnabledPeriod = "InvalidEnabledPeriod"
	ReasonRequestReceived      = "RequestReceived"
	ReasonScaleDownFailed      = "ScaleDownFailed"
)

// IdleEvaluator says whether all triggers of an ElastiService say idle (triggers.Evaluator). An
// error means "do not know": nothing is scaled down.
type IdleEvaluator interface {
	Idle(ctx context.Context, es *v1alpha1.ElastiService) (bool, error)
}

// ScaleDownLoop scales idle targets to zero. It runs only on the leader (NeedLeaderElection), so
// with several operator replicas one target is never scaled down twice. Every PollInterval it
// looks at each ElastiService with triggers, in turn:
//
//  1. outside enabledPeriod, or target already at zero → nothing to do;
//  2. evaluate the triggers; an error → TriggersHealthy=False, a TriggerError Event, no scale-down;
//  3. not idle → the service was active now; idle for less than cooldownPeriod since the last
//     activity (max of: the loop's own record, which starts when this replica became leader;
//     status.lastScaledUpTime; the elastiserver's last-activity annotation) → wait;
//  4. no ready resolver sidecar → no scale-down (the ScaledToZero condition says why);
//  5. switch the Service to proxy mode first (Tracker.StartDrain + reconcile), and wait until every
//     ready sidecar in the slice has acknowledged the service in its Lease (at most AckTimeout);
//  6. read the ElastiService from the API server: a RequestCount accepted since the decision
//     (last-activity annotation) cancels the scale-down (ScaleDownCancelled, back to serve);
//  7. ScaleToZero (pausing KEDA first).
//
// Services are handled one after the other, so a wait in step 5 delays the others by at most
// AckTimeout; scale-downs are rare and a poll interval is long compared to that.
type ScaleDownLoop struct {
	// Controller is the reconciler (*Reconciler): what the loop reads through its cache and asks
	// it to do.
	Controller loopController
	// Scaler reads the target's replicas and scales it to zero.
	Scaler Scaler
	// Tracker is shared with the reconciler: scale-downs in progress, trigger outcomes,
	// observations.
	Tracker *Tracker
	// APIReader reads the ElastiService uncached right before scaling.
	APIReader client.Reader
	// Evaluator evaluates the triggers.
	Evaluator IdleEvaluator
	// InEnabledPeriod reports whether now is inside the window (triggers.InEnabledPeriod).
	InEnabledPeriod func(p *v1alpha1.EnabledPeriod, now time.Time) (bool, error)
	// Traffic measures the requests the sidecars forward, for traffic triggers (*traffic.Meter);
	// without it a traffic trigger reports an error and scales nothing down.
	Traffic TrafficMeter
	// PollInterval and AckTimeout: see the flags; defaults when 0.
	PollInterval time.Duration
	AckTimeout   time.Duration
	// ObserveInterval: how often the services under observation are looked at between polls
	// (DefaultObserveInterval when 0).
	ObserveInterval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// lastActive is when each service was last seen active by this leader.
	lastActive map[types.NamespacedName]time.Time
}

// loopController is what the scale-down loop needs of the reconciler (*Reconciler).
type loopController interface {
	// Reader and StatusClient read through the cache and patch status.
	client.Reader
	client.StatusClient
	// claims: es is the ElastiService that manages its Service (the oldest naming it).
	claims(ctx context.Context, es *v1alpha1.ElastiService) (bool, *v1alpha1.ElastiService, error)
	// listSidecars: every trusted resolver sidecar with its acknowledgement state.
	listSidecars(ctx context.Context) ([]resolver, error)
	// specReplicas: the target's spec replicas, from the cache for the kinds it watches (a poll
	// of 1,000 services is then no 1,000 reads of /scale); a scale-down confirms on /scale.
	specReplicas(ctx context.Context, es *v1alpha1.ElastiService) (int32, error)
	// ourSlices: Elasti's EndpointSlices of es's Service.
	ourSlices(ctx context.Context, es *v1alpha1.ElastiService) ([]discoveryv1.EndpointSlice, error)
	// portsAllocated: every TCP port of es's Service has its sidecar port.
	portsAllocated(ctx context.Context, es *v1alpha1.ElastiService) (bool, error)
	// Enqueue asks for a reconcile of es (mode, status).
	Enqueue(ctx context.Context, es *v1alpha1.ElastiService)
	// event records an Event on es.
	event(es *v1alpha1.ElastiService, eventType, reason, action, note string, args ...any)
}

var _ loopController = (*Reconciler)(nil)

// NeedLeaderElection makes the manager run the loop on the leader only.
func (l *ScaleDownLoop) NeedLeaderElection() bool { return true }

// Start polls until ctx ends (manager.Runnable). The first poll happens at once; between polls,
// the services under observation (traffic triggers) are looked at every ObserveInterval, from
// the same goroutine.
func (l *ScaleDownLoop) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("scaledown")
	ctx = log.IntoContext(ctx, logger)
	interval := l.PollInterval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	observe := l.ObserveInterval
	if observe <= 0 {
		observe = DefaultObserveInterval
	}
	logger.Info("scale-down loop started (this replica is the leader)", "pollInterval", interval, "observeInterval", observe)
	var lastPoll time.Time
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if time.Since(lastPoll) >= interval {
			lastPoll = time.Now()
			l.Poll(ctx)
			if took := time.Since(lastPoll); took > interval {
				logger.Info("a poll took longer than the poll interval: the next starts late (elasti_operator_scaledown_poll_duration_seconds)",
					"took", took.Round(time.Millisecond), "pollInterval", interval)
			}
		}
		l.observeTick(ctx)
	}, min(observe, interval))
	return nil
}

// Poll looks at every ElastiService once.
func (l *ScaleDownLoop) Poll(ctx context.Context) {
	defer func(start time.Time) { pollDuration.Observe(time.Since(start).Seconds()) }(time.Now())
	if l.lastActive == nil {
		l.lastActive = map[types.NamespacedName]time.Time{}
	}
	list := &v1alpha1.ElastiServiceList{}
	if err := l.Controller.List(ctx, list); err != nil {
		log.FromContext(ctx).Error(err, "listing elastiservices")
		return
	}
	seen := map[types.NamespacedName]bool{}
	for i := range list.Items {
		es := &list.Items[i]
		seen[client.ObjectKeyFromObject(es)] = true
		if len(es.Spec.Triggers) == 0 || !es.DeletionTimestamp.IsZero() {
			continue
		}
		l.consider(log.IntoContext(ctx, log.FromContext(ctx).WithValues("elastiservice", client.ObjectKeyFromObject(es))), es)
	}
	for key := range l.lastActive {
		if !seen[key] {
			delete(l.lastActive, key)
		}
	}
}

// consider runs steps 1–3 for one ElastiService and starts a scale-down when they say so.
func (l *ScaleDownLoop) consider(ctx context.Context, es *v1alpha1.ElastiService) {
	key := client.ObjectKeyFromObject(es)
	if owns, _, err := l.Controller.claims(ctx, es); err != nil || !owns {
		if err != nil {
			log.FromContext(ctx).Error(err, "finding the ElastiService that manages the Service")
		}
		return // an older ElastiService names the same Service: only that one scales it down
	}
	now := l.now()
	if _, ok := l.lastActive[key]; !ok {
		l.lastActive[key] = now
	}
	if !l.inPeriod(ctx, es, now) {
		l.stopObservation(ctx, es, "outside enabledPeriod")
		return
	}
	spec, err := l.Controller.specReplicas(ctx, es)
	if err != nil || spec == 0 {
		if err != nil && !targetGone(err) {
			log.FromContext(ctx).Error(err, "reading target replicas")
		}
		return
	}
	idle, err := l.evaluate(ctx, es)
	if err != nil {
		l.stopObservation(ctx, es, "a trigger could not be evaluated")
		return
	}
	if es.Spec.TrafficTrigger() != nil {
		if !idle {
			l.lastActive[key] = now
			l.setBlocked(ctx, es, blockedState{})
		}
		l.considerTraffic(ctx, es, idle, spec, true)
		return
	}
	if !idle {
		l.lastActive[key] = now
		l.setBlocked(ctx, es, blockedState{})
		return
	}
	last := l.lastActivity(es, key)
	if now.Sub(last) < es.Spec.Cooldown() {
		log.FromContext(ctx).V(1).Info("idle, cooling down", "lastActivity", last, "cooldown", es.Spec.Cooldown())
		return
	}
	if es.Status.Mode == v1alpha1.ModeProxy {
		// Waking: scaled up from zero, no pod ready yet (the target is not at zero, so this is not
		// a scale-down in progress). Scaling it down now would undo the wake-up before it could
		// serve, and with a short cooldown do so again on every poll while pods start slowly.
		log.FromContext(ctx).V(1).Info("idle, but waking: not scaled down before a pod is ready")
		return
	}
	l.scaleDown(ctx, es, now)
}

// inPeriod applies enabledPeriod; a schedule that cannot be parsed blocks scale-downs.
func (l *ScaleDownLoop) inPeriod(ctx context.Context, es *v1alpha1.ElastiService, now time.Time) bool {
	if es.Spec.EnabledPeriod == nil || l.InEnabledPeriod == nil {
		return true
	}
	in, err := l.InEnabledPeriod(es.Spec.EnabledPeriod, now)
	switch {
	case err != nil:
		l.setBlocked(ctx, es, blockedState{ReasonInvalidEnabledPeriod, fmt.Sprintf("enabledPeriod cannot be used, so nothing is scaled down: %v", err)})
	case !in:
		l.setBlocked(ctx, es, blockedState{ReasonOutsideEnabledPeriod, "outside enabledPeriod: the target is not scaled down until the window opens"})
	}
	return err == nil && in
}

// evaluate runs the triggers other than the traffic trigger (true when there are none) and
// records the outcome (metrics, Tracker, Event on error).
func (l *ScaleDownLoop) evaluate(ctx context.Context, es *v1alpha1.ElastiService) (bool, error) {
	key := client.ObjectKeyFromObject(es)
	others := es
	if es.Spec.TrafficTrigger() != nil {
		others = es.DeepCopy()
		others.Spec.Triggers = others.Spec.Triggers[:0]
		for _, t := range es.Spec.Triggers {
			if t.Type != v1alpha1.TriggerTypeTraffic {
				others.Spec.Triggers = append(others.Spec.Triggers, t)
			}
		}
		if len(others.Spec.Triggers) == 0 {
			return true, nil // the traffic trigger reports its own outcome (considerTraffic)
		}
	}
	start := time.Now()
	idle, err := l.Evaluator.Idle(ctx, others)
	triggerDuration.WithLabelValues(key.Namespace, key.Name).Observe(time.Since(start).Seconds())
	r := l.Controller
	if err != nil {
		l.triggerFailed(ctx, es, err)
		return false, err
	}
	msg := "triggers say active"
	if idle {
		msg = "triggers say idle"
	}
	if l.Tracker.SetTriggers(key, triggerState{Healthy: true, Message: msg}) {
		r.Enqueue(ctx, es)
	}
	return idle, nil
}

// triggerFailed records a trigger that could not be evaluated: TriggersHealthy=False and a
// TriggerError Event (once per change), and nothing is scaled down.
func (l *ScaleDownLoop) triggerFailed(ctx context.Context, es *v1alpha1.ElastiService, err error) {
	r := l.Controller
	key := client.ObjectKeyFromObject(es)
	triggerErrors.WithLabelValues(key.Namespace, key.Name).Inc()
	msg := fmt.Sprintf("trigger evaluation failed, so nothing is scaled down: %v", err)
	if l.Tracker.SetTriggers(key, triggerState{Healthy: false, Message: msg}) {
		r.event(es, "Warning", "TriggerError", "EvaluateTriggers", "%s", msg)
		r.Enqueue(ctx, es)
	}
	log.FromContext(ctx).Info("trigger evaluation failed", "error", err.Error())
}

// lastActivity is the latest sign of activity: the loop's own, lastScaledUpTime, and the
// elastiserver's last-activity annotation.
func (l *ScaleDownLoop) lastActivity(es *v1alpha1.ElastiService, key types.NamespacedName) time.Time {
	last := l.lastActive[key]
	if t := es.Status.LastScaledUpTime; t != nil && t.After(last) {
		last = t.Time
	}
	if t, ok := annotatedActivity(es); ok && t.After(last) {
		last = t
	}
	return last
}

// annotatedActivity parses names.AnnotationLastActivity (RFC 3339).
func annotatedActivity(es *v1alpha1.ElastiService) (time.Time, bool) {
	raw, ok := es.Annotations[names.AnnotationLastActivity]
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, raw)
	return t, err == nil
}

func (l *ScaleDownLoop) setBlocked(ctx context.Context, es *v1alpha1.ElastiService, s blockedState) {
	if l.Tracker.SetBlocked(client.ObjectKeyFromObject(es), s) {
		l.Controller.Enqueue(ctx, es)
	}
}

func (l *ScaleDownLoop) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *ScaleDownLoop) ackTimeout() time.Duration {
	if l.AckTimeout > 0 {
		return l.AckTimeout
	}
	return DefaultSidecarAckTimeout
}

// statusTimePatch merge-patches one timestamp field of status.
func statusTimePatch(ctx context.Context, c client.StatusClient, key types.NamespacedName, field string, t time.Time) error {
	body, err := json.Marshal(map[string]any{"status": map[string]any{field: t.UTC().Truncate(time.Second).Format(time.RFC3339)}})
	if err != nil {
		return fmt.Errorf("encoding status patch: %w", err)
	}
	es := &v1alpha1.ElastiService{}
	es.Namespace, es.Name = key.Namespace, key.Name
	if err := c.Status().Patch(ctx, es, client.RawPatch(types.MergePatchType, body)); err != nil {
		return fmt.Errorf("patching status.%s: %w", field, err)
	}
	return nil
}

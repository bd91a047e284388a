package controller

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

// Condition reasons besides the mode reasons in mode.go.
const (
	ReasonNoReadySidecars   = "NoReadySidecars"
	ReasonTargetRunning     = "TargetRunning"
	ReasonNoTriggers        = "NoTriggers"
	ReasonNotEvaluated      = "NotEvaluated"
	ReasonEvaluated         = "Evaluated"
	ReasonEvaluationFailed  = "EvaluationFailed"
	ReasonSidecarAckTimeout = "SidecarAckTimeout"
)

// statusRefresh: lastReconciledTime is rewritten at least this often even when nothing changed,
// and not more often, so that a reconcile caused by a sidecar pod does not always write status.
const statusRefresh = time.Minute

// setStatus writes mode, observedGeneration and the three conditions on es (in memory).
func (r *Reconciler) setStatus(es *v1alpha1.ElastiService, obs observation, d decision, readySidecars int) {
	key := client.ObjectKeyFromObject(es)
	es.Status.Mode = d.Mode
	es.Status.ObservedGeneration = es.Generation
	gen := es.Generation
	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&es.Status.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen})
	}
	st, reason, msg := readyCondition(es, d, readySidecars)
	set(v1alpha1.ConditionReady, st, reason, msg)

	switch blocked, isBlocked := r.Tracker.Blocked(key); {
	case !obs.TargetFound:
		set(v1alpha1.ConditionScaledToZero, metav1.ConditionUnknown, ReasonTargetNotFound, targetName(es)+" was not found")
	case obs.TargetSpecReplicas == 0:
		set(v1alpha1.ConditionScaledToZero, metav1.ConditionTrue, ReasonTargetAtZero, targetName(es)+" has 0 replicas; requests wake it")
	case isBlocked:
		set(v1alpha1.ConditionScaledToZero, metav1.ConditionFalse, blocked.Reason, blocked.Message)
	default:
		set(v1alpha1.ConditionScaledToZero, metav1.ConditionFalse, ReasonTargetRunning, fmt.Sprintf("%s has %d replicas", targetName(es), obs.TargetSpecReplicas))
	}

	setTrafficStatus(es, r.Tracker)

	switch trig, evaluated := r.Tracker.Triggers(key); {
	case len(es.Spec.Triggers) == 0:
		set(v1alpha1.ConditionTriggersHealthy, metav1.ConditionTrue, ReasonNoTriggers, "no triggers: Elasti never scales this target down, but wakes it when it is at zero")
	case !evaluated:
		set(v1alpha1.ConditionTriggersHealthy, metav1.ConditionUnknown, ReasonNotEvaluated, "the leader has not evaluated the triggers yet")
	case trig.Healthy:
		set(v1alpha1.ConditionTriggersHealthy, metav1.ConditionTrue, ReasonEvaluated, trig.Message)
	default:
		set(v1alpha1.ConditionTriggersHealthy, metav1.ConditionFalse, ReasonEvaluationFailed, trig.Message)
	}
}

// readyCondition: is the Service reaching something that answers?
func readyCondition(es *v1alpha1.ElastiService, d decision, readySidecars int) (metav1.ConditionStatus, string, string) {
	switch {
	case d.Reason == ReasonServiceNotFound:
		return metav1.ConditionFalse, d.Reason, fmt.Sprintf("Service %s was not found in namespace %s", es.Spec.Service, es.Namespace)
	case d.Reason == ReasonTargetNotFound:
		return metav1.ConditionFalse, d.Reason, targetName(es) + " was not found (or its kind is not served by the API server)"
	case d.Mode == v1alpha1.ModeServe && d.Reason == ReasonTargetReady:
		return metav1.ConditionTrue, d.Reason, "the Service points at the target's ready pods"
	case d.Mode == v1alpha1.ModeServe:
		return metav1.ConditionFalse, d.Reason, "the target is scaled up but none of its pods is ready"
	case readySidecars == 0 && d.Reason == ReasonObserving:
		return metav1.ConditionFalse, ReasonNoReadySidecars,
			"proxy mode to count requests, but no resolver sidecar is ready: the observation ends at the leader's next look"
	case readySidecars == 0:
		return metav1.ConditionFalse, ReasonNoReadySidecars,
			"proxy mode, but no resolver sidecar is ready: requests to the Service fail until a gateway pod with the sidecar runs"
	// The number of ready sidecars stays out of the message: a gateway pod that came or went
	// would otherwise rewrite the status of every Service at zero besides its slice (issue 17).
	// The slices list them.
	case d.Reason == ReasonObserving:
		return metav1.ConditionTrue, d.Reason, "proxy mode while the traffic trigger counts requests: the ready resolver sidecars forward them to the target's pods at once"
	default:
		return metav1.ConditionTrue, d.Reason, "proxy mode: the ready resolver sidecars hold requests and wake the target"
	}
}

func targetName(es *v1alpha1.ElastiService) string {
	return es.Spec.ScaleTargetRef.Kind + " " + es.Spec.ScaleTargetRef.Name
}

// emitTransitions records Events for what changed between before and es.
func (r *Reconciler) emitTransitions(before, es *v1alpha1.ElastiService, d decision) {
	if before.Status.Mode != "" && before.Status.Mode != es.Status.Mode {
		r.event(es, "Normal", "ModeChanged", "SwitchMode", "Service %s switched from %s to %s mode (%s)",
			es.Spec.Service, before.Status.Mode, es.Status.Mode, d.Reason)
	}
	wasZero := meta.IsStatusConditionTrue(before.Status.Conditions, v1alpha1.ConditionScaledToZero)
	isZero := meta.IsStatusConditionTrue(es.Status.Conditions, v1alpha1.ConditionScaledToZero)
	nowUp := meta.IsStatusConditionFalse(es.Status.Conditions, v1alpha1.ConditionScaledToZero)
	switch {
	case !wasZero && isZero:
		r.event(es, "Normal", "ScaledToZero", "Scale", "%s is at 0 replicas; the Service is in proxy mode", targetName(es))
	case wasZero && nowUp:
		r.event(es, "Normal", "ScaledFromZero", "Scale", "%s scaled up from 0", targetName(es))
	}
}

// patchStatus writes status once per reconcile, and only when it changed (or lastReconciledTime is
// older than statusRefresh).
func (r *Reconciler) patchStatus(ctx context.Context, before, es *v1alpha1.ElastiService) error {
	now := r.now()
	last := before.Status.LastReconciledTime
	es.Status.LastReconciledTime = last
	if equality.Semantic.DeepEqual(before.Status, es.Status) && last != nil && now.Sub(last.Time) < statusRefresh {
		return nil
	}
	es.Status.LastReconciledTime = &metav1.Time{Time: now.UTC().Truncate(time.Second)}
	// A merge patch carries only what differs from its base, and the base is the cached copy.
	// When the cache is stale (after an API server restart, say), a field equal to the stale copy
	// but not to what the server holds would be left out and never written: status.mode stayed
	// "serve" for a minute while the conditions said proxy. Mode and conditions, the fields
	// readers act on, are therefore always sent.
	base := before.DeepCopy()
	base.Status.Mode, base.Status.Conditions = "unknown", nil
	if err := r.Status().Patch(ctx, es, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("patching status: %w", err)
	}
	return nil
}

// setTrafficStatus writes status.traffic from what the leader's traffic trigger knows. A new
// leader knows nothing yet: the status written by the previous one stays until its first look.
func setTrafficStatus(es *v1alpha1.ElastiService, t *Tracker) {
	if es.Spec.TrafficTrigger() == nil {
		es.Status.Traffic = nil
		return
	}
	st, ok := t.Traffic(client.ObjectKeyFromObject(es))
	if !ok {
		return
	}
	at := func(t time.Time) *metav1.Time {
		if t.IsZero() {
			return nil
		}
		return &metav1.Time{Time: t.UTC().Truncate(time.Second)}
	}
	next := at(st.Next)
	if st.observing() {
		next = nil
	}
	es.Status.Traffic = &v1alpha1.TrafficStatus{
		ObservingSince: at(st.ObservingSince), ObservedRate: st.Rate, LastActiveTime: at(st.LastActive), NextObservationTime: next,
	}
}

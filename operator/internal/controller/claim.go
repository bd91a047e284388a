package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

// ReasonServiceClaimed: an older ElastiService names the same Service; this one does nothing.
const ReasonServiceClaimed = "ServiceClaimed"

// claimant returns the ElastiService that manages es's Service (v1alpha1.Claimant of all that
// name it, es included even when the cache has not seen it yet).
func (r *Reconciler) claimant(ctx context.Context, es *v1alpha1.ElastiService) (*v1alpha1.ElastiService, error) {
	list := &v1alpha1.ElastiServiceList{}
	if err := r.List(ctx, list, client.InNamespace(es.Namespace), client.MatchingFields{indexService: es.Spec.Service}); err != nil {
		return nil, fmt.Errorf("listing elastiservices naming service %s: %w", es.Spec.Service, err)
	}
	named := list.Items[:0]
	for _, other := range list.Items {
		if other.UID != es.UID {
			named = append(named, other)
		}
	}
	return v1alpha1.Claimant(append(named, *es)), nil
}

// claims reports whether es manages its Service; when not, it also returns the one that does.
func (r *Reconciler) claims(ctx context.Context, es *v1alpha1.ElastiService) (bool, *v1alpha1.ElastiService, error) {
	owner, err := r.claimant(ctx, es)
	if err != nil {
		return false, nil, err
	}
	return owner.UID == es.UID, owner, nil
}

// reconcileUnclaimed leaves the Service, the target and the slices to owner and says so in
// es's status (Ready False, ServiceClaimed) and, once, in a Warning Event. Slices es made while
// it was the claimant (possible only for ElastiServices created in the same second) are removed
// so that owner can create its own under the same names.
func (r *Reconciler) reconcileUnclaimed(ctx context.Context, es, owner *v1alpha1.ElastiService) (ctrl.Result, error) {
	if err := r.deleteProxySlices(ctx, es); err != nil {
		return ctrl.Result{}, err
	}
	key := client.ObjectKeyFromObject(es)
	r.Tracker.EndDrain(key)
	forgetMetrics(key)
	before := es.DeepCopy()
	msg := fmt.Sprintf("Service %s is managed by ElastiService %s, the oldest that names it; this one does nothing until that one is deleted",
		es.Spec.Service, owner.Name)
	es.Status.Mode = ""
	es.Status.SidecarPorts = nil
	r.releasePorts(ctx, key)
	es.Status.ObservedGeneration = es.Generation
	meta.SetStatusCondition(&es.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: ReasonServiceClaimed, Message: msg, ObservedGeneration: es.Generation})
	meta.RemoveStatusCondition(&es.Status.Conditions, v1alpha1.ConditionScaledToZero)
	meta.RemoveStatusCondition(&es.Status.Conditions, v1alpha1.ConditionTriggersHealthy)
	if c := meta.FindStatusCondition(before.Status.Conditions, v1alpha1.ConditionReady); c == nil || c.Reason != ReasonServiceClaimed || c.Message != msg {
		r.event(es, "Warning", ReasonServiceClaimed, "Reconcile", "%s", msg)
	}
	return ctrl.Result{}, r.patchStatus(ctx, before, es)
}

// siblings: an ElastiService was created, deleted or renamed its Service, so the others naming
// the same Service (before or after the change) may have gained or lost the claim.
func (r *Reconciler) siblings(ctx context.Context, o client.Object) []reconcile.Request {
	es, ok := o.(*v1alpha1.ElastiService)
	if !ok {
		return nil
	}
	var out []reconcile.Request
	for _, req := range r.lookup(ctx, es.Namespace, indexService, es.Spec.Service) {
		if req.Name != es.Name {
			out = append(out, req)
		}
	}
	return out
}

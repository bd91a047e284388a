package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/operator/internal/ports"
	"github.com/elasti-dev/elasti/operator/internal/trust"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/scaling"
)

// Scaler is what the controller needs of scaling.ScaleHandler (an interface so that the
// scale-down loop can be tested with a fake).
type Scaler interface {
	GetReplicas(ctx context.Context, namespace string, ref v1alpha1.ScaleTargetRef) (spec, status int32, err error)
	ScaleUp(ctx context.Context, es *v1alpha1.ElastiService) (scaling.ScaleResult, error)
	ScaleToZero(ctx context.Context, es *v1alpha1.ElastiService) error
}

var _ Scaler = (*scaling.ScaleHandler)(nil)

// DefaultWorkers: a gateway pod change rewrites the proxy slice of every Service at zero, one
// write each; with one worker 1,000 slices took 4.6 s to drop a deleted gateway, with 8 2.9 s
// (make bench-scale, docs/benchmarks.md).
const DefaultWorkers = 8

// DefaultResyncPeriod is how often an ElastiService whose target is not a Deployment or a
// StatefulSet (kinds the controller does not watch) is reconciled anyway.
const DefaultResyncPeriod = 30 * time.Second

// Reconciler keeps each ElastiService's Service in the mode its target's state calls for: proxy
// (an EndpointSlice of resolver sidecars) or serve (no Elasti slice), and records what it saw in
// status, conditions, Events and metrics. Its RBAC is in rbac.go.
type Reconciler struct {
	client.Client
	// Scaler reads the target's replicas and scales it (scaling.ScaleHandler).
	Scaler Scaler
	// Recorder emits Events on ElastiServices.
	Recorder events.EventRecorder
	// Tracker is shared with the scale-down loop.
	Tracker *Tracker
	// Trust decides which resolver sidecars may be listed in proxy slices (the same checker the
	// elastiserver signs sidecars in with); nil trusts no sidecar.
	Trust *trust.Checker
	// ResyncPeriod: see DefaultResyncPeriod (0 means the default).
	ResyncPeriod time.Duration
	// Now is the clock (tests replace it); time.Now when nil.
	Now func() time.Time
	// Ports allocates each Service port its sidecar port (sidecarports.go). Without it no port
	// is allocated and proxy slices map no port (unit tests of other steps only).
	Ports *ports.Allocator
	// APIReader reads around the cache (loading port allocations); the client when nil.
	APIReader client.Reader
	// Sidecars says which sidecars are connected and what they acknowledged (*acks.Store, from
	// the cache). Without it no sidecar is ever ready in a slice.
	Sidecars SidecarStates
	// Workers is how many ElastiServices are reconciled at once (DefaultWorkers when 0). The
	// work queue never hands one key to two workers; what they share (Tracker, Ports, the
	// claims read from the cache) is safe for concurrent use.
	Workers int

	// loadMu makes one worker load the port allocations (loadPorts).
	loadMu sync.Mutex
	// external receives requests to reconcile from outside the watches (the scale-down loop).
	external chan event.GenericEvent
}

// SidecarStates returns the state of every sidecar that has an acknowledgement Lease, by pod UID
// (*acks.Store).
type SidecarStates interface {
	States(ctx context.Context) (map[types.UID]acks.State, error)
}

// Reconcile is the controller's entry point; it reads as the steps it takes.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	es := &v1alpha1.ElastiService{}
	if err := r.Get(ctx, req.NamespacedName, es); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			r.releasePorts(ctx, req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading elastiservice: %w", err)
	}
	if !es.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, es)
	}
	if err := r.ensureFinalizer(ctx, es); err != nil {
		return ctrl.Result{}, err
	}
	owns, owner, err := r.claims(ctx, es)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !owns {
		return r.reconcileUnclaimed(ctx, es, owner)
	}
	return r.reconcileNormal(ctx, es)
}

// reconcileNormal observes, allocates sidecar ports, decides the mode, applies it, and writes
// status once (the port allocation is persisted on its own first, before anything uses it).
func (r *Reconciler) reconcileNormal(ctx context.Context, es *v1alpha1.ElastiService) (ctrl.Result, error) {
	obs, svc, err := r.observe(ctx, es, true)
	if err != nil {
		return ctrl.Result{}, err
	}
	exhausted, err := r.allocatePorts(ctx, es, svc)
	if err != nil {
		return ctrl.Result{}, err
	}
	before := es.DeepCopy()
	d, err := r.decide(ctx, es, &obs)
	if err != nil {
		return ctrl.Result{}, err
	}
	readySidecars, err := r.applyMode(ctx, es, svc, d.Mode)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.setStatus(es, obs, d, readySidecars)
	r.setPortsCondition(before, es, exhausted)
	r.emitTransitions(before, es, d)
	if err := r.patchStatus(ctx, before, es); err != nil {
		return ctrl.Result{}, err
	}
	recordMode(client.ObjectKeyFromObject(es), d.Mode)
	if exhausted != nil {
		return ctrl.Result{RequeueAfter: portsRetry}, nil
	}
	return r.requeue(es), nil
}

// DeleteWakeTimeout bounds how long a deleted ElastiService keeps its Service on the sidecars
// while its target comes back from zero; after it, the slices go anyway (Warning Event).
const DeleteWakeTimeout = 5 * time.Minute

// reconcileDelete restores what Elasti changed without losing a request: a target at zero is
// scaled back to minTargetReplicas (unpausing KEDA) when es managed it, and the Service stays on
// the sidecars (proxy slices kept current; the stream still lists the service, so requests are
// held and forwarded as usual) until its own slices list a ready endpoint. Only then do Elasti's
// slices and the finalizer go. Sidecars forward requests that still reach them afterwards
// (registry.Departed).
func (r *Reconciler) reconcileDelete(ctx context.Context, es *v1alpha1.ElastiService) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(es, names.Finalizer) {
		return ctrl.Result{}, nil
	}
	key := client.ObjectKeyFromObject(es)
	r.Tracker.EndDrain(key)
	// An ElastiService that never managed its Service (an older one names it) leaves the target
	// alone: the one that manages it may hold it at zero.
	owns, _, err := r.claims(ctx, es)
	if err != nil {
		return ctrl.Result{}, err
	}
	if owns {
		if err := r.restoreTarget(ctx, es); err != nil {
			return ctrl.Result{}, err
		}
		wait, err := r.waitForTargetBeforeDelete(ctx, es)
		if err != nil {
			return ctrl.Result{}, err
		}
		if wait {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
	}
	if err := r.deleteProxySlices(ctx, es); err != nil {
		return ctrl.Result{}, err
	}
	orig := es.DeepCopy()
	controllerutil.RemoveFinalizer(es, names.Finalizer)
	if err := r.Patch(ctx, es, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("removing finalizer: %w", err)
	}
	r.forget(key)
	r.releasePorts(ctx, key)
	return ctrl.Result{}, nil
}

// waitForTargetBeforeDelete reports whether the deletion of es must wait: its Service points at
// the sidecars (Elasti's slices exist) and has no ready endpoint of its own yet, the Service and
// the target exist, and DeleteWakeTimeout has not passed. While it waits the proxy slices are
// kept current (a gateway may come or go meanwhile).
func (r *Reconciler) waitForTargetBeforeDelete(ctx context.Context, es *v1alpha1.ElastiService) (bool, error) {
	ours, err := r.ourSlices(ctx, es)
	if err != nil || len(ours) == 0 {
		return false, err
	}
	obs, svc, err := r.observe(ctx, es, false)
	if err != nil {
		return false, err
	}
	if !obs.ServiceFound || !obs.TargetFound || obs.TargetReadyEndpoints > 0 {
		return false, nil
	}
	if waited := r.now().Sub(es.DeletionTimestamp.Time); waited > DeleteWakeTimeout {
		r.event(es, "Warning", "DeleteWakeTimeout", "Delete",
			"no ready endpoint of Service %s within %s of the deletion: removing Elasti's slices anyway", es.Spec.Service, DeleteWakeTimeout)
		return false, nil
	}
	if _, err := r.applyMode(ctx, es, svc, v1alpha1.ModeProxy); err != nil {
		return false, err
	}
	log.FromContext(ctx).V(1).Info("deleting: the Service stays on the sidecars until the target is ready", "service", es.Spec.Service)
	return true, nil
}

// restoreTarget scales a target sitting at zero back up. ScaleUp also unpauses a named KEDA
// ScaledObject, so it is called for a KEDA-managed target even when it is up.
func (r *Reconciler) restoreTarget(ctx context.Context, es *v1alpha1.ElastiService) error {
	key := client.ObjectKeyFromObject(es)
	spec, _, err := r.Scaler.GetReplicas(ctx, es.Namespace, es.Spec.ScaleTargetRef)
	if targetGone(err) {
		log.FromContext(ctx).Info("scale target is gone; nothing to restore", "target", es.Spec.ScaleTargetRef.Name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading target replicas before deletion: %w", err)
	}
	keda := es.Spec.Autoscaler != nil && es.Spec.Autoscaler.Type == v1alpha1.AutoscalerKEDA
	if spec > 0 && !keda {
		return nil
	}
	res, err := r.Scaler.ScaleUp(ctx, es)
	if keda && meta.IsNoMatchError(err) {
		// KEDA is not installed: nothing to unpause, and deletion must not hang on it.
		log.FromContext(ctx).Info("KEDA ScaledObject kind not served; restoring the target without unpausing", "scaledObject", es.Spec.Autoscaler.Name)
		noKEDA := es.DeepCopy()
		noKEDA.Spec.Autoscaler = nil
		res, err = r.Scaler.ScaleUp(ctx, noKEDA)
	}
	if err != nil {
		recordScale(key, DirectionUp, ResultError)
		r.event(es, "Warning", "ScaleUpFailed", "Delete", "restoring the target before deletion: %v", err)
		return fmt.Errorf("restoring target before deletion: %w", err)
	}
	if res.ScaledFromZero {
		recordScale(key, DirectionUp, ResultSuccess)
		r.event(es, "Normal", "ScaledFromZero", "Delete", "ElastiService deleted: %s %s scaled back to %d replicas",
			es.Spec.ScaleTargetRef.Kind, es.Spec.ScaleTargetRef.Name, res.Replicas)
	}
	return nil
}

func (r *Reconciler) ensureFinalizer(ctx context.Context, es *v1alpha1.ElastiService) error {
	orig := es.DeepCopy()
	if !controllerutil.AddFinalizer(es, names.Finalizer) {
		return nil
	}
	if err := r.Patch(ctx, es, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("adding finalizer: %w", err)
	}
	return nil
}

// requeue asks for a periodic look at targets of kinds the controller cannot watch.
func (r *Reconciler) requeue(es *v1alpha1.ElastiService) ctrl.Result {
	if watchedTargetKind(es.Spec.ScaleTargetRef) {
		return ctrl.Result{}
	}
	if r.ResyncPeriod > 0 {
		return ctrl.Result{RequeueAfter: r.ResyncPeriod}
	}
	return ctrl.Result{RequeueAfter: DefaultResyncPeriod}
}

func (r *Reconciler) forget(key types.NamespacedName) {
	r.Tracker.Forget(key)
	forgetMetrics(key)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// event emits an Event on es (no-op without a recorder).
func (r *Reconciler) event(es *v1alpha1.ElastiService, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(es, nil, eventType, reason, action, note, args...)
	}
}

// targetGone: the target, or its kind, does not exist (nothing to scale).
func targetGone(err error) bool {
	return err != nil && (apierrors.IsNotFound(err) || meta.IsNoMatchError(err))
}

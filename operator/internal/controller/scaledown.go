package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

// errNoReadySidecars: nothing could hold requests while the target is at zero.
var errNoReadySidecars = errors.New("no ready resolver sidecar")

// portsAllocated reports whether every TCP port of es's Service has a sidecar port recorded.
func (r *Reconciler) portsAllocated(ctx context.Context, es *v1alpha1.ElastiService) (bool, error) {
	if r.Ports == nil {
		return true, nil
	}
	svc := &corev1.Service{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: es.Namespace, Name: es.Spec.Service}, svc); err != nil {
		return false, fmt.Errorf("reading service %s: %w", es.Spec.Service, err)
	}
	return portsComplete(es, svc), nil
}

// scaleDown carries out steps 4–7 of ScaleDownLoop for one ElastiService decided idle at decided,
// and reports whether the target was scaled to zero.
func (l *ScaleDownLoop) scaleDown(ctx context.Context, es *v1alpha1.ElastiService, decided time.Time) bool {
	r := l.Controller
	key := client.ObjectKeyFromObject(es)
	logger := log.FromContext(ctx)
	if ok, err := l.Controller.portsAllocated(ctx, es); err != nil || !ok {
		if err != nil {
			logger.Error(err, "checking sidecar ports")
			return false
		}
		l.setBlocked(ctx, es, blockedState{ReasonSidecarPortsExhausted,
			"idle, but not scaled down: a Service port has no sidecar port (see the Ready condition), so it would be unreachable at zero"})
		return false
	}
	if n, err := l.readySidecars(ctx); err != nil || n == 0 {
		if err != nil {
			logger.Error(err, "listing resolver sidecars")
			return false
		}
		l.setBlocked(ctx, es, blockedState{ReasonNoReadySidecars,
			"idle, but not scaled down: no ready resolver sidecar could hold requests while the target is at zero"})
		return false
	}
	logger.Info("idle for the cooldown period; switching to proxy mode before scaling to zero", "cooldown", es.Spec.Cooldown())
	l.Tracker.StartDrain(key, decided)
	r.Enqueue(ctx, es)
	if err := l.waitForAcks(ctx, es); err != nil {
		l.cancel(ctx, es, ReasonSidecarAckTimeout, fmt.Sprintf("scale-down cancelled: %v", err))
		return false
	}
	fresh := &v1alpha1.ElastiService{}
	if err := l.APIReader.Get(ctx, key, fresh); err != nil {
		l.cancel(ctx, es, ReasonScaleDownFailed, fmt.Sprintf("scale-down cancelled: re-reading the ElastiService: %v", err))
		return false
	}
	if !fresh.DeletionTimestamp.IsZero() {
		l.cancel(ctx, es, ReasonScaleDownFailed, "scale-down cancelled: the ElastiService is being deleted")
		return false
	}
	if t, ok := annotatedActivity(fresh); ok && !t.Before(decided.Truncate(time.Second)) {
		l.lastActive[key] = l.now()
		l.cancel(ctx, es, ReasonRequestReceived, "scale-down cancelled: a request arrived while the Service was being switched to proxy mode")
		return false
	}
	if err := l.Scaler.ScaleToZero(ctx, fresh); err != nil {
		recordScale(key, DirectionDown, ResultError)
		l.Tracker.EndDrain(key)
		l.setBlocked(ctx, es, blockedState{ReasonScaleDownFailed, fmt.Sprintf("scaling to zero failed: %v", err)})
		r.event(es, "Warning", ReasonScaleDownFailed, "ScaleDown", "scaling %s to zero failed: %v", targetName(es), err)
		r.Enqueue(ctx, es)
		return false
	}
	recordScale(key, DirectionDown, ResultSuccess)
	logger.Info("scaled target to zero", "kind", es.Spec.ScaleTargetRef.Kind, "target", es.Spec.ScaleTargetRef.Name)
	if err := statusTimePatch(ctx, r, key, "lastScaledDownTime", l.now()); err != nil && !apierrors.IsNotFound(err) {
		logger.Error(err, "recording lastScaledDownTime")
	}
	l.Tracker.EndDrain(key)
	l.Tracker.SetBlocked(key, blockedState{})
	r.Enqueue(ctx, es)
	return true
}

// cancel ends a scale-down in progress: the reconciler returns the Service to serve mode.
func (l *ScaleDownLoop) cancel(ctx context.Context, es *v1alpha1.ElastiService, reason, msg string) {
	r := l.Controller
	key := client.ObjectKeyFromObject(es)
	log.FromContext(ctx).Info("scale-down cancelled", "reason", reason, "detail", msg)
	recordScale(key, DirectionDown, ResultCancelled)
	l.Tracker.EndDrain(key)
	blocked := blockedState{Reason: reason, Message: msg}
	if reason == ReasonRequestReceived {
		blocked = blockedState{} // normal operation, not a reason to worry
	}
	l.Tracker.SetBlocked(key, blocked)
	r.event(es, "Normal", "ScaleDownCancelled", "ScaleDown", "%s", msg)
	r.Enqueue(ctx, es)
}

// readySidecars counts the sidecars that could hold requests: connected and not going away.
func (l *ScaleDownLoop) readySidecars(ctx context.Context) (int, error) {
	resolvers, err := l.Controller.listSidecars(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range resolvers {
		if s.eligible() {
			n++
		}
	}
	return n, nil
}

// ackProgress is how far the switch to proxy mode is, as one look of waitForAcks saw it.
type ackProgress struct {
	// switched: the ElastiService's status says proxy mode.
	switched bool
	// pending are the sidecars ("namespace/name", sorted) that must still acknowledge the
	// service (switched only).
	pending []string
}

// done: every ready sidecar acknowledged the service in proxy mode.
func (p ackProgress) done() bool { return p.switched && len(p.pending) == 0 }

// waitForAcks waits until the ElastiService's status says proxy and every ready sidecar in its
// slices has acknowledged the service (its acknowledgement Lease lists it: package acks).
func (l *ScaleDownLoop) waitForAcks(ctx context.Context, es *v1alpha1.ElastiService) error {
	var last ackProgress
	var lastErr error = errNoReadySidecars // no look yet
	err := wait.PollUntilContextTimeout(ctx, ackPollInterval, l.ackTimeout(), true, func(ctx context.Context) (bool, error) {
		last, lastErr = l.unacked(ctx, es)
		return lastErr == nil && last.done(), nil
	})
	switch {
	case err == nil:
		return nil
	case lastErr != nil: // no sidecar connected, or the last look failed
		return fmt.Errorf("%w in the proxy slice within %s", errNoReadySidecars, l.ackTimeout())
	case !last.switched:
		return fmt.Errorf("the Service was not switched to proxy mode within %s", l.ackTimeout())
	default:
		return fmt.Errorf("sidecars did not acknowledge the service within %s: %s", l.ackTimeout(), strings.Join(last.pending, ", "))
	}
}

// unacked looks at the switch to proxy mode of es once: whether it happened, and which sidecars
// must still acknowledge es (connected, not going away, and not yet listed ready in es's slices
// because their acknowledgement is missing or the slices lag behind it). It fails with
// errNoReadySidecars when no sidecar is connected.
func (l *ScaleDownLoop) unacked(ctx context.Context, es *v1alpha1.ElastiService) (ackProgress, error) {
	r := l.Controller
	cur := &v1alpha1.ElastiService{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(es), cur); err != nil {
		return ackProgress{}, err
	}
	if cur.Status.Mode != v1alpha1.ModeProxy {
		return ackProgress{}, nil
	}
	slices, err := r.ourSlices(ctx, es)
	if err != nil {
		return ackProgress{}, err
	}
	listedReady := map[types.UID]bool{}
	for i := range slices {
		for _, ep := range slices[i].Endpoints {
			if ep.TargetRef != nil && (ep.Conditions.Ready == nil || *ep.Conditions.Ready) {
				listedReady[ep.TargetRef.UID] = true
			}
		}
	}
	resolvers, err := r.listSidecars(ctx)
	if err != nil {
		return ackProgress{}, err
	}
	want := serviceKey(es)
	var pending []string
	eligible := 0
	for _, s := range resolvers {
		if !s.eligible() {
			continue
		}
		eligible++
		if !s.ready(want) || !listedReady[s.UID] {
			pending = append(pending, s.Pod.String())
		}
	}
	if eligible == 0 {
		return ackProgress{}, errNoReadySidecars
	}
	sort.Strings(pending)
	return ackProgress{switched: true, pending: pending}, nil
}

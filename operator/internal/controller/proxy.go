package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/operator/internal/endpointslice"
	"github.com/elasti-dev/elasti/pkg/names"
)

// observe gathers what the mode depends on: the Service, the target's spec replicas, and the ready
// endpoints of the Service's own EndpointSlices. svc is nil when the Service does not exist.
// With cached set, the spec replicas of a Deployment or StatefulSet come from the cache
// (obs.ReplicasCached); decide confirms them on the target's /scale before it changes the mode.
func (r *Reconciler) observe(ctx context.Context, es *v1alpha1.ElastiService, cached bool) (observation, *corev1.Service, error) {
	key := client.ObjectKeyFromObject(es)
	traffic, _ := r.Tracker.Traffic(key)
	obs := observation{CurrentMode: es.Status.Mode, Draining: r.Tracker.Draining(key), Observing: traffic.observing()}
	svc := &corev1.Service{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: es.Namespace, Name: es.Spec.Service}, svc); {
	case apierrors.IsNotFound(err):
		svc = nil
	case err != nil:
		return obs, nil, fmt.Errorf("reading service %s: %w", es.Spec.Service, err)
	default:
		obs.ServiceFound = true
	}
	if err := r.observeReplicas(ctx, es, &obs, cached); err != nil {
		return obs, nil, err
	}
	own, err := endpointslice.ServiceSlices(ctx, r.Client, es.Namespace, es.Spec.Service)
	if err != nil {
		return obs, nil, err
	}
	// Counting an endpoint whose pod is already being deleted switched a Service woken during a
	// scale-down back to serve mode with no pod left to serve: endpointslice.Ready leaves it out.
	obs.TargetReadyEndpoints = readyEndpoints(own, endpointslice.PodsFrom(ctx, r.Client))
	return obs, svc, nil
}

// observeReplicas sets obs.TargetFound and obs.TargetSpecReplicas: from the manager's cache when
// cached is set and the target is a kind it holds (a Deployment or StatefulSet), else from the
// target's /scale.
//
// Why the cache: a gateway pod that comes or goes reconciles every Service at zero, and a /scale
// read each made the API server do a third more work for nothing (at 1,000 Services, issue 17).
// Why not always: the cache can lag a write by a few milliseconds; a mode change is never decided
// on it (decide).
func (r *Reconciler) observeReplicas(ctx context.Context, es *v1alpha1.ElastiService, obs *observation, cached bool) error {
	ref := es.Spec.ScaleTargetRef
	obs.ReplicasCached = cached && watchedTargetKind(ref)
	var (
		spec int32
		err  error
	)
	if obs.ReplicasCached {
		spec, err = r.cachedReplicas(ctx, es.Namespace, ref)
	} else {
		spec, _, err = r.Scaler.GetReplicas(ctx, es.Namespace, ref)
	}
	switch {
	case targetGone(err):
		obs.TargetFound, obs.TargetSpecReplicas = false, 0
	case err != nil:
		return fmt.Errorf("reading target replicas: %w", err)
	default:
		obs.TargetFound, obs.TargetSpecReplicas = true, spec
	}
	return nil
}

// specReplicas is the target's spec replicas: from the cache for a Deployment or StatefulSet,
// from /scale for any other kind.
func (r *Reconciler) specReplicas(ctx context.Context, es *v1alpha1.ElastiService) (int32, error) {
	if watchedTargetKind(es.Spec.ScaleTargetRef) {
		return r.cachedReplicas(ctx, es.Namespace, es.Spec.ScaleTargetRef)
	}
	spec, _, err := r.Scaler.GetReplicas(ctx, es.Namespace, es.Spec.ScaleTargetRef)
	return spec, err
}

// cachedReplicas reads a Deployment's or StatefulSet's spec.replicas from the cache (1 when
// unset, as the API server defaults it).
func (r *Reconciler) cachedReplicas(ctx context.Context, namespace string, ref v1alpha1.ScaleTargetRef) (int32, error) {
	key := client.ObjectKey{Namespace: namespace, Name: ref.Name}
	if ref.CanonicalKind() == "StatefulSet" {
		sts := &appsv1.StatefulSet{}
		if err := r.Get(ctx, key, sts); err != nil {
			return 0, err
		}
		return ptr.Deref(sts.Spec.Replicas, 1), nil
	}
	d := &appsv1.Deployment{}
	if err := r.Get(ctx, key, d); err != nil {
		return 0, err
	}
	return ptr.Deref(d.Spec.Replicas, 1), nil
}

// decide is decideMode on obs, except that a mode change decided on cached replicas is decided
// again on the target's /scale (obs is updated to what was read).
func (r *Reconciler) decide(ctx context.Context, es *v1alpha1.ElastiService, obs *observation) (decision, error) {
	d := decideMode(*obs)
	if !obs.ReplicasCached || d.Mode == es.Status.Mode {
		return d, nil
	}
	if err := r.observeReplicas(ctx, es, obs, false); err != nil {
		return decision{}, err
	}
	return decideMode(*obs), nil
}

// applyMode makes the Service's Elasti slices match the mode and returns the number of ready
// sidecars the Service points at (0 in serve mode).
func (r *Reconciler) applyMode(ctx context.Context, es *v1alpha1.ElastiService, svc *corev1.Service, mode v1alpha1.Mode) (int, error) {
	if mode != v1alpha1.ModeProxy || svc == nil {
		return 0, r.deleteProxySlices(ctx, es)
	}
	resolvers, err := r.listSidecars(ctx)
	if err != nil {
		return 0, err
	}
	if err := r.syncSlices(ctx, es, buildProxySlices(es, svc, resolvers)); err != nil {
		return 0, err
	}
	ready := 0
	for _, s := range resolvers {
		if s.ready(serviceKey(es)) {
			ready++
		}
	}
	return ready, nil
}

// serviceKey is how sidecars know es's service: "namespace/name" of the Service it fronts (what
// they acknowledge), not the ElastiService's own name.
func serviceKey(es *v1alpha1.ElastiService) string { return es.Namespace + "/" + es.Spec.Service }

// listSidecars returns every trusted resolver sidecar in the cluster, with the state its
// acknowledgement Lease records: a sidecar proxies for services in any namespace, so a pod that
// only claims to be one (the label and the container name are anyone's to set) must never get
// into a slice. Trust (operator/internal/trust) keeps the pods of opted-in namespaces that carry
// the injected sidecar.
func (r *Reconciler) listSidecars(ctx context.Context) ([]resolver, error) {
	pods := &corev1.PodList{}
	if err := r.List(ctx, pods, client.MatchingLabels{names.LabelResolver: "true"}); err != nil {
		return nil, fmt.Errorf("listing resolver pods: %w", err)
	}
	trusted, err := r.Trust.Filter(ctx, pods.Items)
	if err != nil {
		return nil, fmt.Errorf("checking resolver pods: %w", err)
	}
	var states map[types.UID]acks.State
	if r.Sidecars != nil {
		if states, err = r.Sidecars.States(ctx); err != nil {
			return nil, err
		}
	}
	sidecars := sidecarsFromPods(trusted)
	out := make([]resolver, len(sidecars))
	for i, s := range sidecars {
		out[i] = resolver{sidecar: s, state: states[s.UID]}
	}
	return out, nil
}

// ourSlices lists the slices Elasti made for es.
func (r *Reconciler) ourSlices(ctx context.Context, es *v1alpha1.ElastiService) ([]discoveryv1.EndpointSlice, error) {
	list := &discoveryv1.EndpointSliceList{}
	err := r.List(ctx, list, client.InNamespace(es.Namespace), client.MatchingLabels{
		names.LabelElastiService:   es.Name,
		discoveryv1.LabelManagedBy: names.ControllerName,
	})
	if err != nil {
		return nil, fmt.Errorf("listing elasti endpointslices: %w", err)
	}
	return list.Items, nil
}

// syncSlices creates, updates and deletes Elasti's slices so that exactly want exist.
func (r *Reconciler) syncSlices(ctx context.Context, es *v1alpha1.ElastiService, want []*discoveryv1.EndpointSlice) error {
	have, err := r.ourSlices(ctx, es)
	if err != nil {
		return err
	}
	existing := map[string]*discoveryv1.EndpointSlice{}
	for i := range have {
		existing[have[i].Name] = &have[i]
	}
	for _, w := range want {
		cur, ok := existing[w.Name]
		delete(existing, w.Name)
		if err := r.putSlice(ctx, cur, ok, w); err != nil {
			return err
		}
	}
	for _, stale := range existing {
		if err := r.Delete(ctx, stale); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting stale endpointslice %s: %w", stale.Name, err)
		}
	}
	return nil
}

// putSlice creates want, or updates cur when it differs (an address family cannot change, so a
// slice of the wrong family is replaced).
func (r *Reconciler) putSlice(ctx context.Context, cur *discoveryv1.EndpointSlice, exists bool, want *discoveryv1.EndpointSlice) error {
	if exists && cur.AddressType != want.AddressType {
		if err := r.Delete(ctx, cur); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("replacing endpointslice %s: %w", cur.Name, err)
		}
		exists = false
	}
	if !exists {
		if err := r.Create(ctx, want); err != nil {
			return fmt.Errorf("creating endpointslice %s: %w", want.Name, err)
		}
		log.FromContext(ctx).V(1).Info("created proxy endpointslice", "endpointslice", want.Name, "endpoints", len(want.Endpoints))
		return nil
	}
	if equality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints) && equality.Semantic.DeepEqual(cur.Ports, want.Ports) &&
		equality.Semantic.DeepEqual(cur.Labels, want.Labels) && equality.Semantic.DeepEqual(cur.OwnerReferences, want.OwnerReferences) {
		return nil
	}
	upd := cur.DeepCopy()
	upd.Labels, upd.OwnerReferences, upd.Endpoints, upd.Ports = want.Labels, want.OwnerReferences, want.Endpoints, want.Ports
	if err := r.Update(ctx, upd); err != nil {
		return fmt.Errorf("updating endpointslice %s: %w", want.Name, err)
	}
	return nil
}

// deleteProxySlices removes every slice Elasti made for es (serve mode).
func (r *Reconciler) deleteProxySlices(ctx context.Context, es *v1alpha1.ElastiService) error {
	have, err := r.ourSlices(ctx, es)
	if err != nil {
		return err
	}
	for i := range have {
		if err := r.Delete(ctx, &have[i]); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting endpointslice %s: %w", have[i].Name, err)
		}
	}
	return nil
}

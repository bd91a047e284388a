package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/pkg/names"
)

// IndexService is the field index on ElastiServices by spec.service that SetupWithManager
// registers on the manager's cache (the elastiserver looks ElastiServices up by it too).
const IndexService = "controller.elasti.dev/service"

// Field indexes on ElastiServices (prefixed so they cannot clash with indexes other parts of the
// operator register on the same cache).
const (
	indexService     = IndexService
	indexScaleTarget = "controller.elasti.dev/scale-target"
)

// SetupWithManager registers the indexes and the watches:
//   - ElastiServices (spec changes, deletion, finalizers; not status: that is our own write), and
//     the others naming the same Service (only the oldest manages it: claim.go);
//   - the named Service, and every EndpointSlice of it (by kubernetes.io/service-name) — ours and
//     the endpoint controller's, which say whether target pods are ready;
//   - Deployments and StatefulSets named as scale targets (other kinds are re-read every
//     ResyncPeriod);
//   - resolver sidecar pods: a change re-enqueues every ElastiService in proxy mode;
//   - namespaces whose opt-in changes (their sidecars become trusted or not): the same;
//   - sidecars' acknowledgement Leases (package acks): a stream that connects or ends
//     re-enqueues every ElastiService in proxy mode, an acknowledgement only those of its Service;
//   - requests from the scale-down loop (Enqueue).
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := indexElastiServices(ctx, mgr); err != nil {
		return err
	}
	r.external = make(chan event.GenericEvent, 1024)
	workers := r.Workers
	if workers < 1 {
		workers = DefaultWorkers
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("elastiservice").
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: workers}).
		For(&v1alpha1.ElastiService{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, deletionOrFinalizersChanged()))).
		Watches(&v1alpha1.ElastiService{}, handler.EnqueueRequestsFromMapFunc(r.siblings), builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, deletionOrFinalizersChanged()))).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.byServiceName)).
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(r.bySliceService)).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.byTarget("apps", "Deployment")),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&appsv1.StatefulSet{}, handler.EnqueueRequestsFromMapFunc(r.byTarget("apps", "StatefulSet")),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Pod{}, r.activeFirst(), builder.WithPredicates(sidecarChanged())).
		Watches(&corev1.Namespace{}, r.activeFirst(), builder.WithPredicates(optInChanged())).
		Watches(&coordinationv1.Lease{}, r.leaseChanges()).
		WatchesRawSource(source.Channel(r.external, &handler.EnqueueRequestForObject{})).
		Complete(r)
}

// Enqueue asks for a reconcile of es from outside the watches; it never blocks (a full queue means
// a reconcile of everything is pending anyway).
func (r *Reconciler) Enqueue(ctx context.Context, es *v1alpha1.ElastiService) {
	if r.external == nil {
		return
	}
	select {
	case r.external <- event.GenericEvent{Object: es}:
	default:
		log.FromContext(ctx).Info("reconcile queue full; dropping an enqueue", "elastiservice", client.ObjectKeyFromObject(es))
	}
}

func indexElastiServices(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &v1alpha1.ElastiService{}, indexService, serviceIndexValue); err != nil {
		return fmt.Errorf("indexing elastiservices by service: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.ElastiService{}, indexScaleTarget, func(o client.Object) []string {
		return []string{targetIndexKey(o.(*v1alpha1.ElastiService).Spec.ScaleTargetRef)}
	}); err != nil {
		return fmt.Errorf("indexing elastiservices by scale target: %w", err)
	}
	return nil
}

// leaseChanges maps a change of an acknowledgement Lease to the ElastiServices whose slices it
// may change.
func (r *Reconciler) leaseChanges() handler.TypedEventHandler[client.Object, reconcile.Request] {
	enqueue := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], reqs []reconcile.Request) {
		for _, req := range reqs {
			q.Add(req)
		}
	}
	all := func(ctx context.Context, o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		if o.GetLabels()[acks.LabelAcks] == "true" {
			r.enqueueActiveFirst(ctx, q)
		}
	}
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			all(ctx, e.Object, q)
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			all(ctx, e.Object, q)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			oldL, okOld := e.ObjectOld.(*coordinationv1.Lease)
			newL, okNew := e.ObjectNew.(*coordinationv1.Lease)
			if !okOld || !okNew || newL.Labels[acks.LabelAcks] != "true" {
				return
			}
			if acks.StateOf(oldL).Connected != acks.StateOf(newL).Connected {
				all(ctx, newL, q)
				return
			}
			for _, key := range acks.ChangedServices(oldL, newL) {
				ns, svc, _ := strings.Cut(key, "/")
				enqueue(q, r.lookup(ctx, ns, indexService, svc))
			}
		},
	}
}

// serviceIndexValue is the indexService value of an ElastiService: the Service it names.
func serviceIndexValue(o client.Object) []string {
	return []string{o.(*v1alpha1.ElastiService).Spec.Service}
}

// targetIndexKey is "group/Kind/name" (the version does not matter for identity).
func targetIndexKey(ref v1alpha1.ScaleTargetRef) string {
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	return gv.Group + "/" + ref.CanonicalKind() + "/" + ref.Name
}

func watchedTargetKind(ref v1alpha1.ScaleTargetRef) bool {
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	kind := ref.CanonicalKind()
	return gv.Group == "apps" && (kind == "Deployment" || kind == "StatefulSet")
}

func (r *Reconciler) byServiceName(ctx context.Context, o client.Object) []reconcile.Request {
	return r.lookup(ctx, o.GetNamespace(), indexService, o.GetName())
}

func (r *Reconciler) bySliceService(ctx context.Context, o client.Object) []reconcile.Request {
	svc := o.GetLabels()[discoveryv1.LabelServiceName]
	if svc == "" {
		return nil
	}
	return r.lookup(ctx, o.GetNamespace(), indexService, svc)
}

func (r *Reconciler) byTarget(group, kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		return r.lookup(ctx, o.GetNamespace(), indexScaleTarget, group+"/"+kind+"/"+o.GetName())
	}
}

func (r *Reconciler) lookup(ctx context.Context, namespace, field, value string) []reconcile.Request {
	list := &v1alpha1.ElastiServiceList{}
	if err := r.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{field: value}); err != nil {
		log.FromContext(ctx).Error(err, "listing elastiservices for a watch event", "field", field, "value", value)
		return nil
	}
	return requests(list.Items)
}

// activeWindow: an ElastiService whose Service had a request this recently (the elastiserver's
// last-activity annotation) is queued ahead of the others when every proxy slice must change.
const activeWindow = 2 * time.Minute

// activePriority is the work-queue priority of an active ElastiService in that fan-out (the
// others get the default 0; controller-runtime's priority queue pops the highest first).
const activePriority = 10

// activeFirst is the handler of the events after which every slice listing sidecars may be
// stale (a sidecar pod changed, a namespace's opt-in changed): see enqueueActiveFirst.
func (r *Reconciler) activeFirst() handler.TypedEventHandler[client.Object, reconcile.Request] {
	h := func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		r.enqueueActiveFirst(ctx, q)
	}
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(ctx context.Context, _ event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h(ctx, q)
		},
		UpdateFunc: func(ctx context.Context, _ event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h(ctx, q)
		},
		DeleteFunc: func(ctx context.Context, _ event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h(ctx, q)
		},
		GenericFunc: func(ctx context.Context, _ event.TypedGenericEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h(ctx, q)
		},
	}
}

// enqueueActiveFirst queues every ElastiService in proxy mode (or draining its slices), those
// whose Service had traffic within activeWindow at a higher priority: at 1,000 Services a gateway
// pod that goes costs 1,000 slice writes, and the slices clients are sending through are the
// ones that must drop it first (issue 17).
func (r *Reconciler) enqueueActiveFirst(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	pq, prioritized := q.(priorityqueue.PriorityQueue[reconcile.Request])
	for _, pr := range r.proxyModeServices(ctx) {
		if prioritized && pr.priority != 0 {
			pq.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(pr.priority)}, pr.req)
			continue
		}
		q.Add(pr.req)
	}
}

// prioritizedRequest is a reconcile request with its work-queue priority.
type prioritizedRequest struct {
	req      reconcile.Request
	priority int
}

// proxyModeServices: a sidecar changed, so every slice listing sidecars may be stale. Each comes
// with its priority (activePriority when its Service was active within activeWindow).
func (r *Reconciler) proxyModeServices(ctx context.Context) []prioritizedRequest {
	list := &v1alpha1.ElastiServiceList{}
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "listing elastiservices for a sidecar pod event")
		return nil
	}
	now := r.now()
	out := make([]prioritizedRequest, 0, len(list.Items))
	for i := range list.Items {
		es := &list.Items[i]
		if es.Status.Mode != v1alpha1.ModeProxy && !r.Tracker.Draining(client.ObjectKeyFromObject(es)) {
			continue
		}
		pr := prioritizedRequest{req: reconcile.Request{NamespacedName: client.ObjectKeyFromObject(es)}}
		if activeWithin(es, now, activeWindow) {
			pr.priority = activePriority
		}
		out = append(out, pr)
	}
	return out
}

// activeWithin tells whether es's last-activity annotation (the elastiserver's, RFC 3339) is
// within window of now.
func activeWithin(es *v1alpha1.ElastiService, now time.Time, window time.Duration) bool {
	v := es.Annotations[names.AnnotationLastActivity]
	if v == "" {
		return false
	}
	t, err := time.Parse(time.RFC3339, v)
	return err == nil && now.Sub(t) <= window
}

func requests(items []v1alpha1.ElastiService) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(items))
	for i := range items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: items[i].Namespace, Name: items[i].Name}})
	}
	return out
}

// sidecarChanged passes resolver pods whose slice endpoint would change (address, readiness,
// termination, proxy port) or whose trust may change (the sidecar's image); a pod update that only
// touches, say, an annotation does not re-enqueue every ElastiService.
func sidecarChanged() predicate.Predicate {
	isSidecar := func(o client.Object) bool { return o.GetLabels()[names.LabelResolver] == "true" }
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return isSidecar(e.Object) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return isSidecar(e.Object) },
		GenericFunc: func(e event.GenericEvent) bool { return isSidecar(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool {
			if !isSidecar(e.ObjectOld) && !isSidecar(e.ObjectNew) {
				return false
			}
			if isSidecar(e.ObjectOld) != isSidecar(e.ObjectNew) {
				return true
			}
			oldS, oldOK := sidecarFromPod(e.ObjectOld.(*corev1.Pod))
			newS, newOK := sidecarFromPod(e.ObjectNew.(*corev1.Pod))
			return oldOK != newOK || oldS != newS || trustInputs(e.ObjectOld.(*corev1.Pod)) != trustInputs(e.ObjectNew.(*corev1.Pod))
		},
	}
}

// trustInputs is what trust.Policy reads of a resolver pod beyond the label: the sidecar's image
// (mutable on a running pod) and the image override annotation.
func trustInputs(pod *corev1.Pod) string {
	out := pod.Annotations[names.AnnotationSidecarImage]
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == names.SidecarContainerName {
				out += "|" + c.Image
			}
		}
	}
	return out
}

// optInChanged passes namespaces whose opt-in annotation changed: their sidecars became trusted
// or stopped being trusted.
func optInChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false }, // its pods go with it
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetAnnotations()[names.AnnotationInject] != e.ObjectNew.GetAnnotations()[names.AnnotationInject]
		},
	}
}

// deletionOrFinalizersChanged passes ElastiService updates that set deletionTimestamp or change
// finalizers (neither bumps the generation).
func deletionOrFinalizersChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !e.ObjectOld.GetDeletionTimestamp().Equal(e.ObjectNew.GetDeletionTimestamp()) ||
				len(e.ObjectOld.GetFinalizers()) != len(e.ObjectNew.GetFinalizers())
		},
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

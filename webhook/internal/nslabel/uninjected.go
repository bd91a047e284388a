package nslabel

import (
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/webhook/internal/inject"
)

// ReasonSidecarMissing is the Event reason on a gateway pod running without the sidecar.
const ReasonSidecarMissing = "ResolverSidecarMissing"

// Uninjected flags gateway pods that run without the sidecar although the truth table says they
// should have it. It keeps the set of such pods to drive the gauge and to emit one Event per pod
// (not one per pod update).
type Uninjected struct {
	client.Client
	// Config supplies the sidecar ports the truth table's port-clash rule checks.
	Config func() inject.Config
	Events events.EventRecorder

	mu      sync.Mutex
	flagged map[types.NamespacedName]bool
}

// uninjectedPods is served on the manager's metrics endpoint (controller-runtime's registry).
var uninjectedPods = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "elasti_webhook_uninjected_gateway_pods",
	Help: "Gateway pods in opted-in namespaces running without the resolver sidecar (counted by the leader).",
})

func init() { metrics.Registry.MustRegister(uninjectedPods) }

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile implements reconcile.Reconciler.
func (u *Uninjected) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pod := &corev1.Pod{}
	if err := u.Get(ctx, req.NamespacedName, pod); err != nil {
		u.set(req.NamespacedName, false)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	missing, err := u.missing(ctx, pod)
	if err != nil {
		return ctrl.Result{}, err
	}
	if u.set(req.NamespacedName, missing) && u.Events != nil {
		log.FromContext(ctx).Info("gateway pod runs without the resolver sidecar", "pod", req.NamespacedName)
		u.Events.Eventf(pod, nil, corev1.EventTypeWarning, ReasonSidecarMissing, "CheckResolverSidecar",
			"gateway pod has no %s sidecar (created before %s opted in, or while the webhook was unavailable); "+
				"delete the pod or restart its workload to inject it", names.SidecarContainerName, pod.Namespace)
	}
	return ctrl.Result{}, nil
}

// missing reports whether pod should carry the sidecar but does not.
func (u *Uninjected) missing(ctx context.Context, pod *corev1.Pod) (bool, error) {
	if !pod.DeletionTimestamp.IsZero() || HasSidecar(pod) {
		return false, nil
	}
	ns := &corev1.Namespace{}
	if err := u.Get(ctx, client.ObjectKey{Name: pod.Namespace}, ns); err != nil {
		return false, client.IgnoreNotFound(fmt.Errorf("getting namespace %s: %w", pod.Namespace, err))
	}
	cfg := u.Config()
	return inject.Mutate(pod, ns, &cfg).Injected, nil
}

// HasSidecar reports whether pod carries the resolver (by its status annotation or container).
func HasSidecar(pod *corev1.Pod) bool {
	if _, ok := pod.Annotations[names.AnnotationSidecarStatus]; ok {
		return true
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == names.SidecarContainerName {
				return true
			}
		}
	}
	return false
}

// set records whether key is flagged and returns true when it was newly flagged.
func (u *Uninjected) set(key types.NamespacedName, flagged bool) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.flagged == nil {
		u.flagged = map[types.NamespacedName]bool{}
	}
	was := u.flagged[key]
	if flagged {
		u.flagged[key] = true
	} else {
		delete(u.flagged, key)
	}
	uninjectedPods.Set(float64(len(u.flagged)))
	return flagged && !was
}

// SetupWithManager watches pods, and namespaces (an opt-in change re-evaluates their pods).
func (u *Uninjected) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("uninjected-gateway-pods").
		For(&corev1.Pod{}).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(u.podsOf)).
		Complete(u)
}

func (u *Uninjected) podsOf(ctx context.Context, obj client.Object) []reconcile.Request {
	pods := &corev1.PodList{}
	if err := u.List(ctx, pods, client.InNamespace(obj.GetName())); err != nil {
		log.FromContext(ctx).Error(err, "listing pods of namespace", "namespace", obj.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(pods.Items))
	for i := range pods.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&pods.Items[i])})
	}
	return reqs
}

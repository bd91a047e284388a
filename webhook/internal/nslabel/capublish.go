package nslabel

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/elasti-dev/elasti/pkg/names"
)

// ReasonCABundleNotPublished: a ConfigMap that Elasti did not create holds the name.
const ReasonCABundleNotPublished = "CABundleNotPublished"

// CAPublisher keeps the ConfigMap names.OperatorCAConfigMap, key names.OperatorCAKey, equal to the
// current operator CA bundle in every namespace that opted in (WantLabel), and removes it from
// namespaces that opted out. Injected sidecars project it (optional) and re-read it, so a CA
// rotation reaches running sidecars; the bundle in their environment is what they started with.
// A ConfigMap of that name that the publisher did not create (no names.LabelCAPublisher) is left
// alone and reported.
type CAPublisher struct {
	client.Client
	// SystemNamespace is Elasti's own namespace (never published to).
	SystemNamespace string
	// Bundle returns the current PEM bundle ("" means none yet: nothing is published).
	Bundle func() string
	// APIReader reads past the cache (which holds only the publisher's own ConfigMaps).
	APIReader client.Reader
	// Events reports a foreign ConfigMap in the way (optional).
	Events events.EventRecorder

	changed chan event.GenericEvent
}

// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=configmaps,resourceNames=elasti-operator-ca,verbs=update;delete

// BundleChanged asks for every namespace to be published again; it never blocks (one pending
// request covers any number of changes).
func (p *CAPublisher) BundleChanged() {
	select {
	case p.changed <- event.GenericEvent{Object: &corev1.Namespace{}}:
	default:
	}
}

// Reconcile implements reconcile.Reconciler for one namespace.
func (p *CAPublisher) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := p.Get(ctx, req.NamespacedName, ns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ns.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	bundle := p.Bundle()
	cur := &corev1.ConfigMap{}
	err := p.Get(ctx, types.NamespacedName{Namespace: ns.Name, Name: names.OperatorCAConfigMap}, cur)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("reading ConfigMap %s/%s: %w", ns.Name, names.OperatorCAConfigMap, err)
	}
	logger := log.FromContext(ctx).WithValues("namespace", ns.Name, "configmap", names.OperatorCAConfigMap)
	optedIn := WantLabel(ns, p.SystemNamespace)
	if exists && cur.Labels[names.LabelCAPublisher] != "true" {
		if optedIn {
			p.foreign(ns, logger)
		}
		return ctrl.Result{}, nil
	}
	// An empty bundle (a moment during start-up) keeps what was published: stale beats none.
	want := optedIn && bundle != ""
	switch {
	case want && !exists:
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: names.OperatorCAConfigMap, Namespace: ns.Name, Labels: publisherLabels()},
			Data:       map[string]string{names.OperatorCAKey: bundle},
		}
		switch err := p.Create(ctx, cm); {
		case apierrors.IsAlreadyExists(err):
			// Either ours, created a moment ago and not yet in the cache, or someone else's
			// (the cache holds only labelled ConfigMaps): read it from the API server to know.
			live := &corev1.ConfigMap{}
			if err := p.APIReader.Get(ctx, client.ObjectKeyFromObject(cm), live); err != nil {
				return ctrl.Result{}, fmt.Errorf("reading ConfigMap %s/%s: %w", ns.Name, names.OperatorCAConfigMap, err)
			}
			if live.Labels[names.LabelCAPublisher] != "true" {
				p.foreign(ns, logger)
				return ctrl.Result{}, nil
			}
			return ctrl.Result{RequeueAfter: time.Second}, nil // ours: compared once the cache has it
		case err != nil:
			return ctrl.Result{}, fmt.Errorf("creating ConfigMap %s/%s: %w", ns.Name, names.OperatorCAConfigMap, err)
		}
		logger.Info("published the operator CA bundle")
	case want && cur.Data[names.OperatorCAKey] != bundle:
		upd := cur.DeepCopy()
		upd.Data = map[string]string{names.OperatorCAKey: bundle}
		if err := p.Update(ctx, upd); err != nil {
			return ctrl.Result{}, fmt.Errorf("updating ConfigMap %s/%s: %w", ns.Name, names.OperatorCAConfigMap, err)
		}
		logger.Info("published the changed operator CA bundle")
	case exists && !optedIn:
		if err := p.Delete(ctx, cur); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("deleting ConfigMap %s/%s: %w", ns.Name, names.OperatorCAConfigMap, err)
		}
		logger.Info("removed the operator CA bundle from a namespace that opted out")
	}
	return ctrl.Result{}, nil
}

func (p *CAPublisher) foreign(ns *corev1.Namespace, logger logr.Logger) {
	msg := fmt.Sprintf("ConfigMap %s exists but was not created by Elasti (no label %s), so the operator CA bundle is not published here; "+
		"running sidecars keep the bundle they started with until they are restarted after a CA rotation", names.OperatorCAConfigMap, names.LabelCAPublisher)
	logger.Info(msg)
	if p.Events != nil {
		// On the ConfigMap in the way (namespaced: `kubectl get events -n <ns>` shows it); the
		// cache does not hold it, so the reference carries no UID.
		theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: names.OperatorCAConfigMap}}
		p.Events.Eventf(theirs, nil, corev1.EventTypeWarning, ReasonCABundleNotPublished, "PublishCABundle", "%s", msg)
	}
}

func publisherLabels() map[string]string {
	return map[string]string{names.LabelCAPublisher: "true", "app.kubernetes.io/part-of": "elasti"}
}

// PublishedConfigMaps is the label selector of the ConfigMaps the publisher owns; the manager's
// cache should watch only those (not every ConfigMap of the cluster).
func PublishedConfigMaps() map[string]string {
	return map[string]string{names.LabelCAPublisher: "true"}
}

// SetupWithManager registers the controller (leader only): namespace creation and opt-in changes,
// changes to the published ConfigMaps (someone edited or deleted one), and bundle changes.
func (p *CAPublisher) SetupWithManager(mgr ctrl.Manager) error {
	p.changed = make(chan event.GenericEvent, 1)
	optIn := predicate.Or(predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{})
	return ctrl.NewControllerManagedBy(mgr).
		Named("operator-ca-publisher").
		For(&corev1.Namespace{}, builder.WithPredicates(optIn)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetNamespace()}}}
		})).
		WatchesRawSource(source.Channel(p.changed, handler.EnqueueRequestsFromMapFunc(p.allNamespaces))).
		Complete(p)
}

func (p *CAPublisher) allNamespaces(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &corev1.NamespaceList{}
	if err := p.List(ctx, list); err != nil {
		log.FromContext(ctx).Error(err, "listing namespaces to publish the changed CA bundle")
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, ns := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: ns.Name}})
	}
	return out
}

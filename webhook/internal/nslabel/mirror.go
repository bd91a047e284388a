package nslabel

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/elasti-dev/elasti/pkg/names"
)

// Mirror keeps the label names.LabelInject equal to "enabled" exactly on namespaces annotated
// names.AnnotationInject=enabled, except system namespaces, which never get it.
type Mirror struct {
	client.Client
	// SystemNamespace is Elasti's own namespace.
	SystemNamespace string
}

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;patch

// Reconcile implements reconcile.Reconciler.
func (m *Mirror) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := m.Get(ctx, req.NamespacedName, ns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ns.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	want := WantLabel(ns, m.SystemNamespace)
	value, present := ns.Labels[names.LabelInject]
	if (want && value == names.InjectEnabled) || (!want && !present) {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFrom(ns.DeepCopy())
	if want {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[names.LabelInject] = names.InjectEnabled
	} else {
		delete(ns.Labels, names.LabelInject)
	}
	if err := m.Patch(ctx, ns, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("patching label %s on namespace %s: %w", names.LabelInject, ns.Name, err)
	}
	log.FromContext(ctx).Info("mirrored namespace opt-in", "namespace", ns.Name, "label", names.LabelInject, "present", want)
	return ctrl.Result{}, nil
}

// WantLabel reports whether ns should carry the mirrored label.
func WantLabel(ns *corev1.Namespace, systemNamespace string) bool {
	switch ns.Name {
	case "kube-system", "kube-public", "kube-node-lease", systemNamespace:
		return false
	}
	return ns.Annotations[names.AnnotationInject] == names.InjectEnabled
}

// SetupWithManager registers the controller; it reacts only to changes of the annotation or label.
func (m *Mirror) SetupWithManager(mgr ctrl.Manager) error {
	changed := predicate.Or(predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{})
	return ctrl.NewControllerManagedBy(mgr).
		Named("namespace-label-mirror").
		For(&corev1.Namespace{}, builder.WithPredicates(changed)).
		Complete(m)
}

package endpointslice

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/pkg/names"
)

// IsElastis tells Elasti's proxy-mode slices (endpointslice.kubernetes.io/managed-by:
// names.ControllerName) from the Service's own (the endpoint controller's, or another
// controller's).
func IsElastis(slice metav1.Object) bool {
	return slice.GetLabels()[discoveryv1.LabelManagedBy] == names.ControllerName
}

// ServiceSlices lists the Service's own EndpointSlices: every slice labelled with the Service's
// name that is not Elasti's.
func ServiceSlices(ctx context.Context, c client.Reader, namespace, service string) ([]discoveryv1.EndpointSlice, error) {
	list := &discoveryv1.EndpointSliceList{}
	if err := c.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{discoveryv1.LabelServiceName: service}); err != nil {
		return nil, fmt.Errorf("listing EndpointSlices of service %s/%s: %w", namespace, service, err)
	}
	out := list.Items[:0]
	for i := range list.Items {
		if !IsElastis(&list.Items[i]) {
			out = append(out, list.Items[i])
		}
	}
	return out, nil
}

// PodLeaving tells whether an endpoint's pod is leaving. The kubelet stops a pod as soon as it
// has a deletion timestamp, while the endpoint controller marks its endpoint not ready a moment
// later.
type PodLeaving func(ref *corev1.ObjectReference) bool

// PodsFrom answers PodLeaving from c (the manager's pod cache): a pod with a deletion timestamp,
// or one c does not have (gone), is leaving. An endpoint without a pod reference never is.
func PodsFrom(ctx context.Context, c client.Reader) PodLeaving {
	return func(ref *corev1.ObjectReference) bool {
		if ref == nil || ref.Kind != "Pod" {
			return false
		}
		pod := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, pod); err != nil {
			return apierrors.IsNotFound(err)
		}
		return pod.DeletionTimestamp != nil
	}
}

// Terminating tells whether the endpoint will not serve again: its terminating condition says
// so, or its pod is leaving.
func Terminating(ep discoveryv1.Endpoint, leaving PodLeaving) bool {
	return (ep.Conditions.Terminating != nil && *ep.Conditions.Terminating) || leaving(ep.TargetRef)
}

// Ready tells whether the endpoint can serve: its ready condition is not false (nil means
// unknown, which the API tells consumers to treat as ready) and it is not terminating.
func Ready(ep discoveryv1.Endpoint, leaving PodLeaving) bool {
	return (ep.Conditions.Ready == nil || *ep.Conditions.Ready) && !Terminating(ep, leaving)
}

package scaling

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
)

// ScaledObjectGVK is KEDA's ScaledObject. It is handled as unstructured so that Elasti neither
// depends on KEDA's Go module nor needs KEDA installed when no ElastiService names a ScaledObject.
var ScaledObjectGVK = schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"}

// kedaName returns the ScaledObject named by es, or "" when es has no KEDA autoscaler.
func kedaName(es *v1alpha1.ElastiService) string {
	if es.Spec.Autoscaler == nil || es.Spec.Autoscaler.Type != v1alpha1.AutoscalerKEDA {
		return ""
	}
	return es.Spec.Autoscaler.Name
}

// pauseKEDA tells KEDA to hold the target at zero: paused-replicas "0" and paused "true".
func (h *ScaleHandler) pauseKEDA(ctx context.Context, namespace, name string) error {
	return h.patchKEDA(ctx, namespace, name, map[string]any{
		names.KEDAPausedReplicasAnnotation: "0",
		names.KEDAPausedAnnotation:         "true",
	})
}

// unpauseKEDA removes both pause annotations. It reads the ScaledObject first and writes only
// when one of them is present, because it runs on every scale-up.
func (h *ScaleHandler) unpauseKEDA(ctx context.Context, namespace, name string) error {
	so := &unstructured.Unstructured{}
	so.SetGroupVersionKind(ScaledObjectGVK)
	if err := h.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, so); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // nothing to unpause: KEDA does not hold the target
		}
		return fmt.Errorf("reading ScaledObject %s/%s: %w", namespace, name, err)
	}
	ann := so.GetAnnotations()
	_, paused := ann[names.KEDAPausedAnnotation]
	_, pausedReplicas := ann[names.KEDAPausedReplicasAnnotation]
	if !paused && !pausedReplicas {
		return nil
	}
	return h.patchKEDA(ctx, namespace, name, map[string]any{
		names.KEDAPausedReplicasAnnotation: nil,
		names.KEDAPausedAnnotation:         nil,
	})
}

// patchKEDA merge-patches the ScaledObject's annotations (a nil value removes one).
func (h *ScaleHandler) patchKEDA(ctx context.Context, namespace, name string, annotations map[string]any) error {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		return fmt.Errorf("encoding ScaledObject patch: %w", err)
	}
	so := &unstructured.Unstructured{}
	so.SetGroupVersionKind(ScaledObjectGVK)
	so.SetNamespace(namespace)
	so.SetName(name)
	if err := h.client.Patch(ctx, so, client.RawPatch(types.MergePatchType, body)); err != nil {
		return fmt.Errorf("patching ScaledObject %s/%s: %w", namespace, name, err)
	}
	return nil
}

package inject

import (
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/elasti-dev/elasti/pkg/names"
)

// directPatch builds the patch for the common case, a first injection (no status annotation, so
// Mutate removed nothing), without diffing the whole pod: it costs a fraction of CreatePatch.
// ok is false when the pod was injected before; Patch then falls back to the diff. The golden and
// fuzz tests apply its result to the original and compare with the mutated pod.
func directPatch(before, after *corev1.Pod) (ops []jsonpatch.Operation, ok bool) {
	if _, had := before.Annotations[names.AnnotationSidecarStatus]; had {
		return nil, false
	}
	ops = make([]jsonpatch.Operation, 0, 5)
	if len(after.Spec.InitContainers) > len(before.Spec.InitContainers) {
		ops = append(ops, prependOp("/spec/initContainers", len(before.Spec.InitContainers), after.Spec.InitContainers[0]))
	}
	if n := len(before.Spec.Containers); len(after.Spec.Containers) > n {
		ops = append(ops, appendOp("/spec/containers", n, after.Spec.Containers[n]))
	}
	if n := len(before.Spec.Volumes); len(after.Spec.Volumes) > n {
		ops = append(ops, appendOp("/spec/volumes", n, after.Spec.Volumes[n]))
	}
	if before.Spec.ServiceAccountName != after.Spec.ServiceAccountName {
		ops = append(ops, jsonpatch.NewOperation("add", "/spec/serviceAccountName", after.Spec.ServiceAccountName))
	}
	ops = append(ops, mapOps("/metadata/labels", before.Labels, after.Labels)...)
	ops = append(ops, mapOps("/metadata/annotations", before.Annotations, after.Annotations)...)
	return ops, true
}

// prependOp inserts v at the start of the list at path (creating it when empty).
func prependOp(path string, n int, v any) jsonpatch.Operation {
	if n == 0 {
		return jsonpatch.NewOperation("add", path, []any{v})
	}
	return jsonpatch.NewOperation("add", path+"/0", v)
}

// appendOp appends v to the list at path (creating it when empty).
func appendOp(path string, n int, v any) jsonpatch.Operation {
	if n == 0 {
		return jsonpatch.NewOperation("add", path, []any{v})
	}
	return jsonpatch.NewOperation("add", path+"/-", v)
}

// mapOps adds the keys of after that are new or changed (Mutate only adds to these maps here).
func mapOps(path string, before, after map[string]string) []jsonpatch.Operation {
	if len(before) == 0 {
		if len(after) == 0 {
			return nil
		}
		return []jsonpatch.Operation{jsonpatch.NewOperation("add", path, after)}
	}
	var ops []jsonpatch.Operation
	for k, v := range after {
		if old, ok := before[k]; !ok || old != v {
			ops = append(ops, jsonpatch.NewOperation("add", path+"/"+escapePointer(k), v))
		}
	}
	return ops
}

// escapePointer escapes a JSON Pointer reference token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

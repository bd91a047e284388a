package inject

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
)

// Result is the outcome of Mutate.
type Result struct {
	// Reason is bounded (a metric label); Injected says whether Pod carries the sidecar.
	Reason   Reason
	Injected bool
	// Message explains a skip in a sentence.
	Message string
	// Warnings go to the AdmissionResponse and, off dry-run, into an Event.
	Warnings []string
	// Pod is the mutated pod when Injected; otherwise the input pod, untouched.
	Pod *corev1.Pod
}

// Mutate decides whether pod (in namespace ns) gets the sidecar and returns the mutated copy.
// pod is not modified. A pod that was injected before (status annotation) is stripped first,
// so Mutate(Mutate(p).Pod) equals Mutate(p).Pod.
func Mutate(pod *corev1.Pod, ns *corev1.Namespace, cfg *Config) Result {
	out := pod.DeepCopy()
	_, warning := strip(out)
	var warnings []string
	if warning != "" {
		warnings = append(warnings, warning)
	}
	params, problems := ParseOverrides(out.Annotations, cfg)
	in := &input{pod: out, ns: ns, cfg: cfg, proxyPort: params.ProxyPort, adminPort: params.AdminPort}
	reason, msg := evaluate(in)
	if reason != ReasonInjected {
		// Warnings about overrides only matter when a sidecar is injected.
		return Result{Reason: reason, Message: msg, Warnings: warnings, Pod: pod}
	}
	for _, p := range problems {
		warnings = append(warnings, p.String())
	}
	if len(problems) > 0 {
		reason = ReasonInjectedWithDefault
	}
	apply(out, cfg, &params)
	return Result{Reason: reason, Injected: true, Warnings: warnings, Pod: out}
}

// Patch returns the JSON patch (RFC 6902) that turns the original pod JSON (decoded: before) into
// mutated. A first injection takes the direct path (fastpatch.go); a re-injection diffs against
// the raw request bytes, so the patch is minimal. Fields this binary's
// k8s.io/api does not know (an API server newer than the webhook) are absent from the re-encoded
// pod; removals are therefore kept only where Mutate removes things (keepOp), never elsewhere.
func Patch(original []byte, before, mutated *corev1.Pod) ([]byte, error) {
	if ops, ok := directPatch(before, mutated); ok {
		return encodeOps(ops)
	}
	cur, err := json.Marshal(mutated)
	if err != nil {
		return nil, fmt.Errorf("encoding mutated pod: %w", err)
	}
	ops, err := jsonpatch.CreatePatch(original, cur)
	if err != nil {
		return nil, fmt.Errorf("diffing pod: %w", err)
	}
	return encodeOps(slices.DeleteFunc(ops, func(op jsonpatch.Operation) bool { return !keepOp(op) }))
}

func encodeOps(ops []jsonpatch.Operation) ([]byte, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("encoding patch: %w", err)
	}
	return b, nil
}

// keepOp drops "remove" operations outside the lists Mutate edits: containers, init containers
// and volumes (the array diff may shift elements, so anything below them), and single labels
// and annotations.
func keepOp(op jsonpatch.Operation) bool {
	if op.Operation != "remove" {
		return true
	}
	seg := strings.SplitN(strings.TrimPrefix(op.Path, "/"), "/", 4)
	if len(seg) < 2 {
		return false
	}
	switch seg[0] + "/" + seg[1] {
	case "spec/containers", "spec/initContainers", "spec/volumes":
		return true
	case "metadata/labels", "metadata/annotations":
		return len(seg) <= 3
	}
	return false
}

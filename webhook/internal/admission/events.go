package admission

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/elasti-dev/elasti/webhook/internal/inject"
)

// Recorder is the part of k8s.io/client-go/tools/events.EventRecorder the handler uses.
type Recorder interface {
	Eventf(regarding runtime.Object, related runtime.Object, eventtype, reason, action, note string, args ...interface{})
}

// eventAction is the Event's action (events.k8s.io/v1 requires one).
const eventAction = "InjectResolverSidecar"

// quietReasons produce a metric but no Event: NotGateway is the fate of every ordinary pod in an
// opted-in namespace, and an Event per pod would flood the namespace.
var quietReasons = map[inject.Reason]bool{
	inject.ReasonInjected: true, inject.ReasonNotGateway: true, inject.ReasonNotPodCreate: true,
}

// record emits an Event for a skip or a bad override.
//
// At CREATE the pod has no name (usually only generateName) and no UID, so an Event cannot be
// attached to it. The Event goes to the pod's controller (ownerReference with controller: true,
// e.g. the ReplicaSet) when there is one, which `kubectl describe` of the owner shows; otherwise
// to the pod by name when it has one; otherwise to the namespace. The note names the pod.
func (h *Handler) record(pod *corev1.Pod, ns string, res inject.Result) {
	if h.Events == nil || quietReasons[res.Reason] {
		return
	}
	eventType := corev1.EventTypeNormal
	switch res.Reason {
	case inject.ReasonInjectedWithDefault, inject.ReasonPortClash, inject.ReasonBadGatewaySelector,
		inject.ReasonUndecodable, inject.ReasonInternalError, inject.ReasonNamespaceUnknown, inject.ReasonAlreadyInjected:
		eventType = corev1.EventTypeWarning
	}
	note := res.Message
	if res.Injected {
		note = "resolver sidecar injected with defaults: " + strings.Join(res.Warnings, "; ")
	} else {
		note = "resolver sidecar not injected: " + note
	}
	h.Events.Eventf(regarding(pod, ns), nil, eventType, string(res.Reason), eventAction, "pod %s: %s", podName(pod, ns), inject.Truncate(note, 900))
}

// regarding picks the object an admission Event is attached to (see record).
func regarding(pod *corev1.Pod, ns string) *corev1.ObjectReference {
	if pod != nil {
		for _, o := range pod.OwnerReferences {
			if o.Controller != nil && *o.Controller {
				return &corev1.ObjectReference{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID, Namespace: ns}
			}
		}
		if pod.Name != "" {
			return &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, Namespace: ns}
		}
	}
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: ns}
}

// podName names a pod that may not have a name yet.
func podName(pod *corev1.Pod, ns string) string {
	switch {
	case pod == nil:
		return ns + "/<undecodable>"
	case pod.Name != "":
		return pod.Namespace + "/" + pod.Name
	case pod.GenerateName != "":
		return fmt.Sprintf("%s/%s<generated>", pod.Namespace, pod.GenerateName)
	default:
		return pod.Namespace + "/<unnamed>"
	}
}

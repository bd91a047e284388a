package controller

import (
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/elasti-dev/elasti/pkg/names"
)

// sidecar is a resolver sidecar as an EndpointSlice endpoint sees it. Two pods with equal sidecar
// values produce the same slices, which is how pod updates that do not matter (an annotation,
// say) are told apart from those that do.
type sidecar struct {
	Pod      types.NamespacedName
	UID      types.UID
	NodeName string
	// IPv4 and IPv6 are the pod's addresses ("" when the pod has none of that family).
	IPv4, IPv6 string
	// Ready: the sidecar container is ready and the pod is not terminating.
	Ready bool
	// Serving: the sidecar container is ready, terminating or not.
	Serving     bool
	Terminating bool
}

// sidecarFromPod returns the sidecar of a pod carrying the resolver, or false when the pod has no
// address yet or has finished (such a pod must not appear in a slice: its IP may be reused).
func sidecarFromPod(pod *corev1.Pod) (sidecar, bool) {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return sidecar{}, false
	}
	s := sidecar{
		Pod:         types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name},
		UID:         pod.UID,
		NodeName:    pod.Spec.NodeName,
		Terminating: pod.DeletionTimestamp != nil,
	}
	for _, ip := range podIPs(pod) {
		parsed := net.ParseIP(ip)
		switch {
		case parsed == nil:
		case parsed.To4() != nil && s.IPv4 == "":
			s.IPv4 = ip
		case parsed.To4() == nil && s.IPv6 == "":
			s.IPv6 = ip
		}
	}
	if s.IPv4 == "" && s.IPv6 == "" {
		return sidecar{}, false
	}
	s.Serving = sidecarContainerReady(pod)
	s.Ready = s.Serving && !s.Terminating
	return s, true
}

func podIPs(pod *corev1.Pod) []string {
	ips := make([]string, 0, len(pod.Status.PodIPs)+1)
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = append(ips, pod.Status.PodIP)
	}
	return ips
}

// sidecarContainerReady reads the readiness of the resolver container: an init container status
// for a native sidecar (restartPolicy Always), a container status otherwise. The pod's own Ready
// condition is not used: the gateway container may be unready while the sidecar proxies fine.
func sidecarContainerReady(pod *corev1.Pod) bool {
	for _, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range statuses {
			if cs.Name == names.SidecarContainerName {
				return cs.Ready
			}
		}
	}
	return false
}

// sidecarsFromPods converts and sorts (by namespace/name) the pods that carry a resolver.
func sidecarsFromPods(pods []corev1.Pod) []sidecar {
	out := make([]sidecar, 0, len(pods))
	for i := range pods {
		if s, ok := sidecarFromPod(&pods[i]); ok {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b sidecar) int { return strings.Compare(a.Pod.String(), b.Pod.String()) })
	return out
}

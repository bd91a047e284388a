package controller

import (
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/elasti-dev/elasti/operator/internal/acks"
)

// sidecar is a resolver sidecar's pod as an EndpointSlice endpoint sees it. Two pods with equal
// sidecar values produce the same slices, which is how pod updates that do not matter (an
// annotation, a container's readiness) are told apart from those that do.
type sidecar struct {
	Pod      types.NamespacedName
	UID      types.UID
	NodeName string
	// IPv4 and IPv6 are the pod's addresses ("" when the pod has none of that family).
	IPv4, IPv6 string
	// Terminating: the pod is being deleted.
	Terminating bool
}

// resolver is a sidecar with what its acknowledgement Lease says (package acks): whether its
// process has a stream open to the operator, and which services it listens for.
//
// A sidecar's place in a proxy slice comes from this, never from a readiness probe: a native
// sidecar's readiness counts toward its pod's, so a probe that failed while the resolver
// restarts would take the whole gateway out of its own Service. The resolver's crash ends its
// stream, which the operator records at once (the endpoint turns not ready everywhere); the
// restarted process connects as a new instance, and is ready for a Service again once it has
// opened that Service's ports and acknowledged it.
type resolver struct {
	sidecar
	state acks.State
}

// serving: the sidecar accepts connections for service ("namespace/name" of the Service).
func (r resolver) serving(service string) bool { return r.state.Live(service) }

// ready: serving, and not going away.
func (r resolver) ready(service string) bool { return !r.Terminating && r.serving(service) }

// eligible: connected and not going away, so it must acknowledge a service before the service
// relies on it (the scale-down handshake).
func (r resolver) eligible() bool { return !r.Terminating && r.state.Connected }

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

package elastiserver

import (
	"context"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/elasti-dev/elasti/operator/internal/endpointslice"
	"github.com/elasti-dev/elasti/pkg/stream"
)

// endpoints flattens the slices into one Endpoint per address, sorted by IP, and returns the
// names of the pods behind them. Terminating endpoints (endpointslice.Terminating: by condition,
// or their pod is leaving) are left out: they will not serve again. An address listed by two
// slices keeps the union of their ports.
func endpoints(own []discoveryv1.EndpointSlice, leaving endpointslice.PodLeaving) ([]stream.Endpoint, []string) {
	byIP := map[string]*stream.Endpoint{}
	pods := map[string]struct{}{}
	for _, s := range own {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		ports := slicePorts(s.Ports)
		for _, ep := range s.Endpoints {
			if endpointslice.Terminating(ep, leaving) {
				continue
			}
			ready := endpointslice.Ready(ep, leaving)
			pod := ""
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
				pod = ep.TargetRef.Name
				pods[pod] = struct{}{}
			}
			for _, ip := range ep.Addresses {
				e, ok := byIP[ip]
				if !ok {
					e = &stream.Endpoint{Pod: pod, IP: ip, Ready: ready, Ports: map[string]int32{}}
					byIP[ip] = e
				}
				e.Ready = e.Ready && ready
				maps.Copy(e.Ports, ports)
			}
		}
	}
	out := make([]stream.Endpoint, 0, len(byIP))
	for _, e := range byIP {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b stream.Endpoint) int { return strings.Compare(a.IP, b.IP) })
	return out, slices.Sorted(maps.Keys(pods))
}

func slicePorts(ps []discoveryv1.EndpointPort) map[string]int32 {
	out := make(map[string]int32, len(ps))
	for _, p := range ps {
		if p.Port == nil {
			continue
		}
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		out[name] = *p.Port
	}
	return out
}

// probe returns the readiness probe of the first of the pods (by name) that the cache knows and
// that has an HTTP or TCP readiness probe, or nil.
func (b *builder) probe(ctx context.Context, namespace string, podNames []string) *stream.Probe {
	for _, name := range podNames {
		pod := &corev1.Pod{}
		if err := b.c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, pod); err != nil {
			continue // gone or not cached yet; the next pod may do
		}
		if p := probeOf(pod); p != nil {
			return p
		}
	}
	return nil
}

// probeOf returns the first HTTP or TCP readiness probe among the pod's regular containers,
// with a named port resolved to its number (in that container, then in any container). The
// probe's host field is ignored: the sidecar probes the endpoint's IP, as the kubelet does by
// default.
func probeOf(pod *corev1.Pod) *stream.Probe {
	for _, c := range pod.Spec.Containers {
		rp := c.ReadinessProbe
		if rp == nil {
			continue
		}
		timeout := rp.TimeoutSeconds
		if timeout <= 0 {
			timeout = 1
		}
		switch {
		case rp.HTTPGet != nil:
			port, ok := resolvePort(pod, c, rp.HTTPGet.Port)
			if !ok {
				continue
			}
			p := &stream.Probe{Type: stream.ProbeHTTP, Port: port, Path: rp.HTTPGet.Path, Scheme: string(rp.HTTPGet.Scheme), TimeoutSeconds: timeout}
			if p.Path == "" {
				p.Path = "/"
			}
			if p.Scheme == "" {
				p.Scheme = string(corev1.URISchemeHTTP)
			}
			for _, h := range rp.HTTPGet.HTTPHeaders {
				if p.Headers == nil {
					p.Headers = map[string]string{}
				}
				p.Headers[h.Name] = h.Value
			}
			return p
		case rp.TCPSocket != nil:
			if port, ok := resolvePort(pod, c, rp.TCPSocket.Port); ok {
				return &stream.Probe{Type: stream.ProbeTCP, Port: port, TimeoutSeconds: timeout}
			}
		}
	}
	return nil
}

func resolvePort(pod *corev1.Pod, c corev1.Container, port intstr.IntOrString) (int32, bool) {
	if port.Type == intstr.Int {
		return port.IntVal, port.IntVal > 0 && port.IntVal < 65536
	}
	for _, cp := range c.Ports {
		if cp.Name == port.StrVal {
			return cp.ContainerPort, true
		}
	}
	for _, other := range pod.Spec.Containers {
		for _, cp := range other.Ports {
			if cp.Name == port.StrVal {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

package controller

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/operator/internal/endpointslice"
	"github.com/elasti-dev/elasti/pkg/names"
)

// maxEndpointsPerSlice is the API's limit on endpoints in one EndpointSlice. A cluster with more
// resolver sidecars than that gets the first ones by namespace/name (more than enough to hold
// requests for a few seconds).
const maxEndpointsPerSlice = 1000

// proxySliceName names the slice of one address family: <service>-elasti-ipv4, <service>-elasti-ipv6.
func proxySliceName(service string, family discoveryv1.AddressType) string {
	if family == discoveryv1.AddressTypeIPv6 {
		return service + "-elasti-ipv6"
	}
	return service + "-elasti-ipv4"
}

// serviceFamilies are the address families the Service serves. A Service the API server has not
// defaulted yet (no ipFamilies) gets both; a slice of a family the Service lacks is ignored by
// proxies.
func serviceFamilies(svc *corev1.Service) []discoveryv1.AddressType {
	if len(svc.Spec.IPFamilies) == 0 {
		return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}
	}
	out := make([]discoveryv1.AddressType, 0, 2)
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			out = append(out, discoveryv1.AddressTypeIPv4)
		case corev1.IPv6Protocol:
			out = append(out, discoveryv1.AddressTypeIPv6)
		}
	}
	return out
}

// buildProxySlices returns the EndpointSlices that point svc at the resolver sidecars: one per
// address family of the Service, each listing every sidecar with an address of that family, every
// TCP Service port mapped to the sidecar port allocated to it (status.sidecarPorts: the port a
// connection arrives on tells the sidecar which Service it is for), and ready/serving/terminating
// conditions of each sidecar. A family without sidecars still gets an empty slice, so the set of
// slices only changes when the mode does.
func buildProxySlices(es *v1alpha1.ElastiService, svc *corev1.Service, sidecars []resolver) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	ports := slicePorts(es, svc)
	for _, family := range serviceFamilies(svc) {
		var eps []discoveryv1.Endpoint
		for _, s := range sidecars {
			if ep, ok := endpointFor(s, family, serviceKey(es)); ok {
				eps = append(eps, ep)
			}
		}
		if len(eps) > maxEndpointsPerSlice {
			eps = eps[:maxEndpointsPerSlice]
		}
		out = append(out, newProxySlice(es, svc, family, ports, eps))
	}
	return out
}

func newProxySlice(es *v1alpha1.ElastiService, svc *corev1.Service, family discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps []discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      proxySliceName(svc.Name, family),
			Namespace: svc.Namespace,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: svc.Name,
				discoveryv1.LabelManagedBy:   names.ControllerName,
				names.LabelElastiService:     es.Name,
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         v1alpha1.GroupVersion.String(),
				Kind:               "ElastiService",
				Name:               es.Name,
				UID:                es.UID,
				Controller:         ptr.To(true),
				BlockOwnerDeletion: ptr.To(true),
			}},
		},
		AddressType: family,
		Endpoints:   eps,
		Ports:       ports,
	}
}

// slicePorts maps every TCP Service port, by name, to its allocated sidecar port. UDP and SCTP
// ports are left out (the sidecar proxies HTTP only), and so is a port without a sidecar port (the
// range was exhausted; the Ready condition says so and the target is not scaled down).
func slicePorts(es *v1alpha1.ElastiService, svc *corev1.Service) []discoveryv1.EndpointPort {
	sp := proxiedPorts(svc)
	out := make([]discoveryv1.EndpointPort, 0, len(sp))
	for _, p := range sp {
		n, ok := es.Status.SidecarPortFor(p.Name)
		if !ok {
			continue
		}
		out = append(out, discoveryv1.EndpointPort{
			Name:        ptr.To(p.Name),
			Protocol:    ptr.To(corev1.ProtocolTCP),
			Port:        ptr.To(n),
			AppProtocol: p.AppProtocol,
		})
	}
	return out
}

// endpointFor is s's endpoint in a slice of service ("namespace/name"): ready while s accepts
// connections for it and is not going away, serving while it accepts them (package acks).
func endpointFor(s resolver, family discoveryv1.AddressType, service string) (discoveryv1.Endpoint, bool) {
	ip := s.IPv4
	if family == discoveryv1.AddressTypeIPv6 {
		ip = s.IPv6
	}
	if ip == "" {
		return discoveryv1.Endpoint{}, false
	}
	ep := discoveryv1.Endpoint{
		Addresses: []string{ip},
		Conditions: discoveryv1.EndpointConditions{
			Ready:       ptr.To(s.ready(service)),
			Serving:     ptr.To(s.serving(service)),
			Terminating: ptr.To(s.Terminating),
		},
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: s.Pod.Namespace, Name: s.Pod.Name, UID: s.UID},
	}
	if s.NodeName != "" {
		ep.NodeName = ptr.To(s.NodeName)
	}
	return ep, true
}

// readyEndpoints counts the endpoints of slices that can serve (endpointslice.Ready).
func readyEndpoints(list []discoveryv1.EndpointSlice, leaving endpointslice.PodLeaving) int {
	n := 0
	for i := range list {
		for _, ep := range list[i].Endpoints {
			if endpointslice.Ready(ep, leaving) {
				n++
			}
		}
	}
	return n
}

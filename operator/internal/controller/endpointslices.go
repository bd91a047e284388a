package controller

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
)

// maxEndpointsPerSlice is the API's limit on endpoints in one EndpointSlice. A cluster with more
// resolver sidecars than that gets the first ones by namespace/name (more than enough to hold
// requests for a few seconds).
const maxEndpointsPerSlice = 1000

// proxySliceName names the slice of one address family (and, for sidecars whose proxy port was
// moved away from the default, of one port): <service>-elasti-ipv4, <service>-elasti-ipv6-9000.
func proxySliceName(service string, family discoveryv1.AddressType, port int32) string {
	suffix := "ipv4"
	if family == discoveryv1.AddressTypeIPv6 {
		suffix = "ipv6"
	}
	name := service + "-elasti-" + suffix
	if port != names.DefaultProxyPort {
		name += fmt.Sprintf("-%d", port)
	}
	return name
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
// address family of the Service (and per distinct sidecar proxy port), each listing every sidecar
// with an address of that family, every TCP Service port mapped to the sidecar's proxy port, and
// ready/serving/terminating conditions from the sidecar container. A family without sidecars
// still gets an empty slice, so the set of slices only changes when the mode does.
func buildProxySlices(es *v1alpha1.ElastiService, svc *corev1.Service, sidecars []sidecar) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, family := range serviceFamilies(svc) {
		byPort := map[int32][]discoveryv1.Endpoint{}
		for _, s := range sidecars {
			if ep, ok := endpointFor(s, family); ok {
				byPort[s.ProxyPort] = append(byPort[s.ProxyPort], ep)
			}
		}
		if len(byPort) == 0 {
			byPort[names.DefaultProxyPort] = nil
		}
		ports := make([]int32, 0, len(byPort))
		for p := range byPort {
			ports = append(ports, p)
		}
		slices.Sort(ports)
		for _, port := range ports {
			eps := byPort[port]
			if len(eps) > maxEndpointsPerSlice {
				eps = eps[:maxEndpointsPerSlice]
			}
			out = append(out, newProxySlice(es, svc, family, port, eps))
		}
	}
	return out
}

func newProxySlice(es *v1alpha1.ElastiService, svc *corev1.Service, family discoveryv1.AddressType, port int32, eps []discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      proxySliceName(svc.Name, family, port),
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
		Ports:       slicePorts(svc, port),
	}
}

// slicePorts maps every TCP Service port, by name, to the sidecar's proxy port. UDP and SCTP ports
// are left out: the sidecar proxies HTTP only.
func slicePorts(svc *corev1.Service, proxyPort int32) []discoveryv1.EndpointPort {
	out := make([]discoveryv1.EndpointPort, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		out = append(out, discoveryv1.EndpointPort{
			Name:        ptr.To(p.Name),
			Protocol:    ptr.To(corev1.ProtocolTCP),
			Port:        ptr.To(proxyPort),
			AppProtocol: p.AppProtocol,
		})
	}
	return out
}

func endpointFor(s sidecar, family discoveryv1.AddressType) (discoveryv1.Endpoint, bool) {
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
			Ready:       ptr.To(s.Ready),
			Serving:     ptr.To(s.Serving),
			Terminating: ptr.To(s.Terminating),
		},
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: s.Pod.Namespace, Name: s.Pod.Name, UID: s.UID},
	}
	if s.NodeName != "" {
		ep.NodeName = ptr.To(s.NodeName)
	}
	return ep, true
}

// readyEndpoints counts the ready endpoints of slices (a nil ready condition means ready, as the
// API documents).
func readyEndpoints(list []discoveryv1.EndpointSlice, terminating func(*corev1.ObjectReference) bool) int {
	n := 0
	for i := range list {
		for _, ep := range list[i].Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			if (ep.Conditions.Terminating != nil && *ep.Conditions.Terminating) || terminating(ep.TargetRef) {
				continue
			}
			n++
		}
	}
	return n
}

// isOurs tells Elasti's slices from those of the Service's own endpoint controller.
func isOurs(s *discoveryv1.EndpointSlice) bool {
	return s.Labels[discoveryv1.LabelManagedBy] == names.ControllerName
}

package elastiserver

import (
	"context"
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/operator/internal/endpointslice"
	"github.com/elasti-dev/elasti/pkg/stream"
)

// serviceKey is the stream key of a Service: "namespace/name". Streams and acks are keyed by the
// Service (spec.service), not by the ElastiService's own name, because that is what a sidecar
// meets in a request's Host.
func serviceKey(namespace, service string) string { return namespace + "/" + service }

// elastiServiceFor returns the ElastiService that manages namespace/service (the oldest of those
// naming it: v1alpha1.Claimant), nil when none does. With index (the name of a field index of c's
// cache on spec.service) it reads only those; without one (an API reader) it lists the namespace.
func elastiServiceFor(ctx context.Context, c client.Reader, namespace, service, index string) (*v1alpha1.ElastiService, error) {
	list := &v1alpha1.ElastiServiceList{}
	opts := []client.ListOption{client.InNamespace(namespace)}
	if index != "" {
		opts = append(opts, client.MatchingFields{index: service})
	}
	if err := c.List(ctx, list, opts...); err != nil {
		return nil, fmt.Errorf("listing ElastiServices in %s: %w", namespace, err)
	}
	named := list.Items[:0]
	for _, es := range list.Items {
		if es.Spec.Service == service {
			named = append(named, es)
		}
	}
	return v1alpha1.Claimant(named), nil
}

// builder computes a stream.Service from the cache.
type builder struct {
	c             client.Reader
	clusterDomain string
	// serviceIndex: see Options.ServiceIndex.
	serviceIndex string
}

// build returns what the streams should show for namespace/service, or nil when no
// ElastiService names it. previous is the value shown now; its probe is kept when no target pod
// is left to read one from (a target at zero), so a sidecar can probe the first pod that comes.
func (b *builder) build(ctx context.Context, namespace, service string, previous *stream.Service) (*stream.Service, error) {
	es, err := elastiServiceFor(ctx, b.c, namespace, service, b.serviceIndex)
	if err != nil || es == nil {
		return nil, err
	}
	out := &stream.Service{
		Namespace: namespace,
		Name:      service,
		Mode:      modeOf(es),
		Hosts:     hosts(namespace, service, b.clusterDomain),
	}
	svc := &corev1.Service{}
	switch err := b.c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: service}, svc); {
	case apierrors.IsNotFound(err):
		return out, nil // the sidecar knows the names; ports and endpoints come with the Service
	case err != nil:
		return nil, fmt.Errorf("reading Service %s/%s: %w", namespace, service, err)
	}
	out.ClusterIPs = clusterIPs(svc)
	out.Ports = ports(svc, es)
	own, err := endpointslice.ServiceSlices(ctx, b.c, namespace, service)
	if err != nil {
		return nil, err
	}
	var podNames []string
	out.Endpoints, podNames = endpoints(own, endpointslice.PodsFrom(ctx, b.c))
	out.Probe = b.probe(ctx, namespace, podNames)
	if out.Probe == nil && previous != nil {
		out.Probe = previous.Probe
	}
	return out, nil
}

func modeOf(es *v1alpha1.ElastiService) string {
	if es.Status.Mode == v1alpha1.ModeProxy {
		return stream.ModeProxy
	}
	return stream.ModeServe
}

func hosts(namespace, service, clusterDomain string) []string {
	return []string{
		service,
		service + "." + namespace,
		service + "." + namespace + ".svc",
		service + "." + namespace + ".svc." + strings.TrimSuffix(clusterDomain, "."),
	}
}

func clusterIPs(svc *corev1.Service) []string {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var out []string
	for _, ip := range ips {
		if net.ParseIP(ip) != nil {
			out = append(out, ip)
		}
	}
	return out
}

// ports lists the Service's ports with the sidecar port the ElastiService's status allocated to
// each (0 for one not allocated yet; UDP and SCTP ports never get one).
func ports(svc *corev1.Service, es *v1alpha1.ElastiService) []stream.Port {
	out := make([]stream.Port, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		sp := stream.Port{Name: p.Name, Port: p.Port, Protocol: string(p.Protocol)}
		if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
			sp.SidecarPort, _ = es.Status.SidecarPortFor(p.Name)
		}
		if p.AppProtocol != nil {
			sp.AppProtocol = *p.AppProtocol
		}
		out = append(out, sp)
	}
	return out
}

package registry

import (
	"strings"

	"github.com/elasti-dev/elasti/pkg/stream"
)

// Port picks the Service port a request is for: the one numbered hostPort (the port in the
// request's Host, 0 when none), otherwise the port numbered 80, otherwise the first. A gateway
// may send a Host whose port is its own, so an unmatched port falls back rather than fails.
func (s *Service) Port(hostPort int) (stream.Port, bool) {
	if len(s.Ports) == 0 {
		return stream.Port{}, false
	}
	for _, want := range []int{hostPort, 80} {
		for _, p := range s.Ports {
			if want != 0 && int(p.Port) == want {
				return p, true
			}
		}
	}
	return s.Ports[0], true
}

// PortNamed returns the Service port with this name (the one a sidecar port was allocated to).
func (s *Service) PortNamed(name string) (stream.Port, bool) {
	for _, p := range s.Ports {
		if p.Name == name {
			return p, true
		}
	}
	return stream.Port{}, false
}

// TargetPort is the pod port an endpoint serves Service port p on: Endpoint.Ports[p.Name], or
// the endpoint's only port when it lists one, otherwise none.
func TargetPort(ep stream.Endpoint, p stream.Port) (int32, bool) {
	if n, ok := ep.Ports[p.Name]; ok && n > 0 {
		return n, true
	}
	if len(ep.Ports) == 1 {
		for _, n := range ep.Ports {
			return n, n > 0
		}
	}
	return 0, false
}

// WantsH2C reports whether the Service port declares cleartext HTTP/2 (h2c or gRPC).
func WantsH2C(p stream.Port) bool {
	switch strings.ToLower(p.AppProtocol) {
	case "kubernetes.io/h2c", "h2c", "grpc", "http2":
		return true
	}
	return false
}

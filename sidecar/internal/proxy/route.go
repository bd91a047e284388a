package proxy

import (
	"context"
	"time"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/internal/registry"
)

// portRef says which Service port a request is for.
type portRef struct {
	// named: the request arrived on the sidecar port allocated to the Service port called name.
	named bool
	name  string
	// hostPort is the port in Host (0: none), for requests on the direct listener.
	hostPort int
}

// resolve finds the Service port in svc. A request on a sidecar port whose Service port is gone
// (the Service lost it a moment ago) has none.
func (p portRef) resolve(svc *registry.Service) (stream.Port, bool) {
	if p.named {
		return svc.PortNamed(p.name)
	}
	return svc.Port(p.hostPort)
}

// route travels with a forwarded request in its context.
type route struct {
	key     string
	port    portRef
	start   time.Time
	target  endpoint
	held    bool
	heldFor time.Duration
	// reported: the operator was told about this request (once per request, proxy mode).
	reported bool
	// status is the response status (499 when the client went away).
	status int
}

type routeKey struct{}

func withRoute(ctx context.Context, rt *route) context.Context {
	return context.WithValue(ctx, routeKey{}, rt)
}

func routeFrom(ctx context.Context) *route {
	rt, _ := ctx.Value(routeKey{}).(*route)
	return rt
}

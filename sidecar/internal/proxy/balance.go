package proxy

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/internal/registry"
)

// endpoint is where one request goes.
type endpoint struct {
	ip   string
	addr string // ip:port
	// h2c: the Service port declares cleartext HTTP/2.
	h2c bool
}

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

// balancer spreads requests round-robin over the endpoints that can serve.
type balancer struct {
	next sync.Map // key -> *atomic.Uint32
}

func (b *balancer) counter(key string) *atomic.Uint32 {
	if c, ok := b.next.Load(key); ok {
		return c.(*atomic.Uint32)
	}
	c, _ := b.next.LoadOrStore(key, new(atomic.Uint32))
	return c.(*atomic.Uint32)
}

// forget drops the counter of a service that left the stream.
func (b *balancer) forget(key string) { b.next.Delete(key) }

// pick chooses an endpoint of svc that can serve the port the request names: ready in the
// stream, or answering the sidecar's probe. skip (may be nil) excludes addresses already tried.
func (h *Handler) pick(svc *registry.Service, ref portRef, skip map[string]bool) (endpoint, bool) {
	port, ok := ref.resolve(svc)
	if !ok {
		return endpoint{}, false
	}
	usable := func(i int) (int32, bool) {
		ep := svc.Endpoints[i]
		if !ep.Ready && !h.o.Registry.Answering(svc.Key, ep.IP) {
			return 0, false
		}
		n, ok := registry.TargetPort(ep, port)
		if !ok || (skip != nil && skip[addrOf(ep.IP, n)]) {
			return 0, false
		}
		return n, true
	}
	count := 0
	for i := range svc.Endpoints {
		if _, ok := usable(i); ok {
			count++
		}
	}
	if count == 0 {
		return endpoint{}, false
	}
	nth := int(h.balancer.counter(svc.Key).Add(1)-1) % count
	for i := range svc.Endpoints {
		n, ok := usable(i)
		if !ok {
			continue
		}
		if nth == 0 {
			ip := svc.Endpoints[i].IP
			return endpoint{ip: ip, addr: addrOf(ip, n), h2c: registry.WantsH2C(port)}, true
		}
		nth--
	}
	return endpoint{}, false
}

func addrOf(ip string, port int32) string {
	return net.JoinHostPort(ip, strconv.Itoa(int(port)))
}

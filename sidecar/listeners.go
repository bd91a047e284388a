package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/elasti-dev/elasti/sidecar/internal/registry"
)

// portListener serves one sidecar port: every connection on it is for one Service port.
type portListener struct {
	key, portName string
	srv           *http.Server
	done          chan struct{} // closed when Serve has returned
}

// portListeners keeps one listener open on every sidecar port the stream lists (the operator
// allocates one to every TCP port of every managed Service, unique in the cluster). A service is
// acknowledged to the operator only once every one of its sidecar ports is open, so the scale-down
// handshake still guarantees that no request reaches a closed port.
type portListeners struct {
	bind      string
	newServer func(http.Handler) *http.Server
	handler   func(key, portName string) http.Handler
	closeWait time.Duration
	log       logr.Logger
	onError   func(port int32, err error)

	mu      sync.Mutex
	open    map[int32]*portListener
	failed  map[int32]string // port -> error, logged once per distinct error
	stopped bool
}

// Sync opens the listeners the services need and closes those no service needs any more (in
// the background, letting their requests finish). It returns the keys of services with every
// sidecar port open; a service whose port could not be bound (the gateway uses it, say) is left
// out, so it is not acknowledged, and binding is retried at the next Sync.
func (p *portListeners) Sync(reg *registry.Registry) map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	want := map[int32][2]string{}
	complete := map[string]bool{}
	for _, key := range reg.Keys() {
		svc, ok := reg.Get(key)
		if !ok {
			continue
		}
		complete[key] = true
		for _, port := range svc.Ports {
			if port.SidecarPort > 0 {
				want[port.SidecarPort] = [2]string{key, port.Name}
			}
		}
	}
	// Services that just left the stream keep their ports for registry.LingerFor (requests that
	// still arrive are forwarded to their last ready endpoints), unless a service now listed has
	// been given the port.
	for _, svc := range reg.Lingering(registry.LingerFor) {
		for _, port := range svc.Ports {
			if _, taken := want[port.SidecarPort]; port.SidecarPort > 0 && !taken {
				want[port.SidecarPort] = [2]string{svc.Key, port.Name}
			}
		}
	}
	for port, l := range p.open {
		if w, ok := want[port]; !ok || w != [2]string{l.key, l.portName} {
			delete(p.open, port)
			go p.closeOne(l)
		}
	}
	ports := make([]int32, 0, len(want))
	for port := range want {
		ports = append(ports, port)
	}
	slices.Sort(ports)
	for _, port := range ports {
		w := want[port]
		if _, ok := p.open[port]; ok {
			continue
		}
		if err := p.openOne(port, w[0], w[1]); err != nil {
			complete[w[0]] = false
			if p.failed[port] != err.Error() {
				p.failed[port] = err.Error()
				p.log.Error(err, "cannot listen on a sidecar port; the service is not acknowledged until it can", "port", port, "service", w[0], "servicePort", w[1])
				if p.onError != nil {
					p.onError(port, err)
				}
			}
			continue
		}
		delete(p.failed, port)
	}
	return complete
}

func (p *portListeners) openOne(port int32, key, portName string) error {
	if p.stopped {
		return errors.New("the sidecar is shutting down")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(p.bind, strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("binding sidecar port %d for %s port %q: %w", port, key, portName, err)
	}
	l := &portListener{key: key, portName: portName, srv: p.newServer(p.handler(key, portName)), done: make(chan struct{})}
	p.open[port] = l
	go func() {
		defer close(l.done)
		_ = l.srv.Serve(ln)
	}()
	p.log.V(1).Info("listening on sidecar port", "port", port, "service", key, "servicePort", portName)
	return nil
}

// closeOne stops accepting at once and gives in-flight requests closeWait to finish.
func (p *portListeners) closeOne(l *portListener) {
	ctx, cancel := context.WithTimeout(context.Background(), p.closeWait)
	defer cancel()
	if l.srv.Shutdown(ctx) != nil {
		_ = l.srv.Close()
	}
}

// servers stops any further opening and returns every open server (for the drain).
func (p *portListeners) servers() []*http.Server {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	out := make([]*http.Server, 0, len(p.open))
	for _, l := range p.open {
		out = append(out, l.srv)
	}
	return out
}

// Ports returns the open sidecar ports, sorted.
func (p *portListeners) Ports() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]int32, 0, len(p.open))
	for port := range p.open {
		out = append(out, port)
	}
	slices.Sort(out)
	return out
}

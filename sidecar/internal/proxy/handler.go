package proxy

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-logr/logr"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/internal/hold"
	"github.com/elasti-dev/elasti/sidecar/internal/hosts"
	"github.com/elasti-dev/elasti/sidecar/internal/metrics"
	"github.com/elasti-dev/elasti/sidecar/internal/registry"
)

// Reporter tells the operator about requests (report.Client).
type Reporter interface {
	// Held: a request for the service is held (de-duplicated and retried by the reporter).
	Held(namespace, service string)
	// Activity: a request for a proxy-mode service was forwarded without holding.
	Activity(namespace, service string)
}

// Prober starts probing a service's not-ready endpoints while requests are held (probe.Manager).
type Prober interface {
	Ensure(ctx context.Context, key string)
}

// Options configure a Handler. Registry, Queue, Reporter, Prober and Metrics are required.
type Options struct {
	Registry *registry.Registry
	Queue    *hold.Queue
	Reporter Reporter
	Prober   Prober
	Metrics  *metrics.Metrics
	Log      logr.Logger
	// HoldTimeout is how long a request is held when the service sets no HoldTimeoutSeconds.
	HoldTimeout time.Duration
	// RetryAfter is the Retry-After sent with 503 answers.
	RetryAfter time.Duration
	// DialTimeout bounds one connection attempt to a pod.
	DialTimeout time.Duration
	// ConnectRetries is how many more times a refused connection is tried (on another endpoint
	// when there is one) while no byte of the request body has been read.
	ConnectRetries int
	// ConnectRetryBackoff is the pause before each such retry.
	ConnectRetryBackoff time.Duration
	// MaxIdleConnsPerHost bounds the idle upstream connections kept per pod.
	MaxIdleConnsPerHost int
}

// Handler is the sidecar's proxy http.Handler. Create it with New.
type Handler struct {
	o Options
	// forward is the ReverseProxy; forwardDirect sends the common requests without it (see
	// lean.go), both through transport.
	forward   http.Handler
	transport *transport
	// wait picks endpoints and holds requests until one can serve; the transport shares it to
	// hold again a request that every endpoint refused.
	wait *waiter
}

// New returns a Handler; probe loops it starts stop when ctx is done.
func New(ctx context.Context, o Options) *Handler {
	h := &Handler{o: o, wait: newWaiter(ctx, o)}
	h.transport = h.newTransport()
	h.forward = h.newReverseProxy()
	return h
}

// Abort makes every held request give up at once with 503 (the end of a drain).
func (h *Handler) Abort() { h.wait.stop() }

// Forget drops what the handler keeps for a service that left the stream (its round-robin
// position), so a long-lived sidecar does not accumulate state for services long gone.
func (h *Handler) Forget(key string) { h.wait.balancer.forget(key) }

// ServeHTTP serves the direct listener: a client that dials a sidecar itself (not through a
// Service) names the service in Host. Nothing routes Service traffic here: proxy-mode
// EndpointSlices point at the sidecar ports, whose handlers (Bound) ignore Host.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	svc, auth, err := h.identify(r)
	if err != nil {
		h.o.Metrics.Rejected("", metrics.ReasonUnknownHost)
		h.o.Metrics.Observe("", http.StatusNotFound, false, 0)
		writeError(w, http.StatusNotFound, apiError{Error: err.Error(), Host: r.Host})
		return
	}
	h.serve(w, r, svc, portRef{hostPort: auth.Port}, start)
}

// Bound returns the handler of the sidecar port allocated to Service port portName of the
// service key: every request it serves is for that Service port, whatever its Host or headers
// say, which are forwarded unchanged.
func (h *Handler) Bound(key, portName string) http.Handler {
	return &bound{h: h, key: key, ref: portRef{named: true, name: portName}}
}

type bound struct {
	h   *Handler
	key string
	ref portRef
}

func (b *bound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	svc, ok := b.h.o.Registry.Get(b.key)
	if !ok {
		// The service left the stream after this connection was accepted (its listener is
		// closing), normally because its ElastiService was deleted once a pod was ready: forward
		// to the last known ready endpoints and end the connection.
		if last, ok := b.h.o.Registry.Departed(b.key); ok {
			if _, ready := b.h.wait.pick(last, b.ref, nil); ready {
				b.h.serve(w, r, last, b.ref, start)
				return
			}
		}
		rt := &route{key: b.key, port: b.ref, start: start}
		b.h.reject(w, r, rt, http.StatusServiceUnavailable, metrics.ReasonServiceGone, b.key+" is no longer managed by Elasti; retry")
		return
	}
	b.h.serve(w, r, svc, b.ref, start)
}

// serve holds the request if no endpoint can serve it yet, then forwards it.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, svc *registry.Service, ref portRef, start time.Time) {
	rt := &route{key: svc.Key, port: ref, start: start}
	if ep, ok := h.wait.pick(svc, ref, nil); ok {
		if svc.Mode == stream.ModeProxy {
			h.o.Reporter.Activity(svc.Namespace, svc.Name)
		}
		rt.target = ep
	} else {
		var ok bool
		if r, ok = h.receiveBody(w, r, rt, h.wait.holdTimeout(svc)); !ok {
			return
		}
		if !h.hold(w, r, rt) {
			return
		}
	}
	if ref.named && svc.Mode == stream.ModeServe {
		endConnection(w, r)
	}
	if r.ProtoMajor == 1 && r.ContentLength != 0 {
		// The pod may answer while the request body is still being copied to it (an echo, an
		// upload that streams its result): let the HTTP/1 server read the body and write the
		// response at the same time instead of cutting one off.
		_ = http.NewResponseController(w).EnableFullDuplex()
	}
	if lean(r, rt.target) {
		h.forwardDirect(w, r, rt)
	} else {
		h.forward.ServeHTTP(w, r.WithContext(withRoute(r.Context(), rt)))
	}
	h.o.Metrics.Observe(rt.key, rt.status, rt.held, rt.heldFor)
}

// endConnection asks for the connection to end after this response: a connection kube-proxy sent
// to a sidecar port while the service was in proxy mode (a gateway's keep-alive connection) would
// otherwise go through the sidecar for as long as it lives, although the Service now leads
// straight to the pods. `Connection: close` makes Go's HTTP/1 server close the connection after
// the response, and its HTTP/2 server send GOAWAY and close once the streams in flight are done
// (net/http has no other per-connection GOAWAY). The request itself is answered normally; the
// client's next request opens a new connection. Upgrades (WebSocket) are left alone: the
// tunnel owns the connection until it ends. Only sidecar ports do this: nothing routes a
// gateway to the direct listener.
func endConnection(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") == "" {
		w.Header().Set("Connection", "close")
	}
}

// identify finds the service a request on the direct listener is for, from its Host.
func (h *Handler) identify(r *http.Request) (*registry.Service, hosts.Authority, error) {
	auth, err := hosts.Parse(r.Host)
	if err != nil {
		return nil, auth, fmt.Errorf("cannot tell which service %q is: %w", r.Host, err)
	}
	svc, err := h.o.Registry.Lookup(auth)
	if err != nil {
		return nil, auth, fmt.Errorf("%s: %w", auth, err)
	}
	return svc, auth, nil
}

// hold waits until an endpoint can serve. It answers the request itself and returns false
// when the request cannot be forwarded.
func (h *Handler) hold(w http.ResponseWriter, r *http.Request, rt *route) bool {
	res := h.wait.await(r.Context(), rt, nil)
	switch res.out {
	case outForward:
		rt.target = res.ep
		return true
	case outQueueFull:
		h.reject(w, r, rt, http.StatusServiceUnavailable, metrics.ReasonQueueFull, res.err.Error())
	case outServiceGone:
		h.reject(w, r, rt, http.StatusServiceUnavailable, metrics.ReasonServiceGone, rt.key+" is no longer managed by Elasti; retry")
	case outShutdown:
		h.reject(w, r, rt, http.StatusServiceUnavailable, metrics.ReasonShutdown, "the sidecar is shutting down; retry")
	case outTimeout:
		h.timeout(w, r, rt, res.svc, res.timeout, rt.reported)
	case outAbandoned:
		h.abandoned(rt)
	}
	return false
}

// abandoned records a held request whose client went away (nobody to answer: 499 in metrics).
func (h *Handler) abandoned(rt *route) {
	rt.status = 499
	h.o.Metrics.Rejected(rt.key, metrics.ReasonClientGone)
	h.o.Metrics.Observe(rt.key, rt.status, true, time.Since(rt.start))
}

func (h *Handler) timeout(w http.ResponseWriter, r *http.Request, rt *route, svc *registry.Service, after time.Duration, reported bool) {
	ready := 0
	for _, ep := range svc.Endpoints {
		if ep.Ready {
			ready++
		}
	}
	msg := fmt.Sprintf("held for %s waiting for a pod of %s that can serve (%d endpoints, %d ready)", after, rt.key, len(svc.Endpoints), ready)
	if reported {
		msg += "; the operator was asked to scale it up"
	}
	h.reject(w, r, rt, http.StatusGatewayTimeout, metrics.ReasonHoldTimeout, msg)
}

// reject answers a request the sidecar cannot forward.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, rt *route, code int, reason, msg string) {
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(h.o.RetryAfter.Seconds()))))
	}
	rt.status = code
	h.o.Metrics.Rejected(rt.key, reason)
	h.o.Metrics.Observe(rt.key, code, rt.held, time.Since(rt.start))
	writeError(w, code, apiError{Error: msg, Host: r.Host, Service: rt.key, HeldSeconds: heldSeconds(rt)})
}

func heldSeconds(rt *route) float64 {
	if !rt.held {
		return 0
	}
	return time.Since(rt.start).Round(time.Millisecond).Seconds()
}

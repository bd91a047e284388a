package proxy

import (
	"context"
	"fmt"
	"net"
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
	o        Options
	forward  http.Handler
	balancer balancer
	// probeCtx bounds the probe loops started by requests.
	probeCtx context.Context
	// abort is closed by Abort: held requests give up with 503.
	abort chan struct{}
	// reholdForget is how long a re-held request skips the endpoints that refused it
	// (the package constant; tests make it longer).
	reholdForget time.Duration
}

// New returns a Handler; probe loops it starts stop when ctx is done.
func New(ctx context.Context, o Options) *Handler {
	h := &Handler{o: o, probeCtx: ctx, abort: make(chan struct{}), reholdForget: reholdForget}
	h.forward = h.newReverseProxy()
	return h
}

// Abort makes every held request give up at once with 503 (the end of a drain).
func (h *Handler) Abort() {
	select {
	case <-h.abort:
	default:
		close(h.abort)
	}
}

// Forget drops what the handler keeps for a service that left the stream (its round-robin
// position), so a long-lived sidecar does not accumulate state for services long gone.
func (h *Handler) Forget(key string) { h.balancer.forget(key) }

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
			if _, ready := b.h.pick(last, b.ref, nil); ready {
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
	if ep, ok := h.pick(svc, ref, nil); ok {
		if svc.Mode == stream.ModeProxy {
			h.o.Reporter.Activity(svc.Namespace, svc.Name)
		}
		rt.target = ep
	} else {
		var ok bool
		if r, ok = h.receiveBody(w, r, rt, h.holdTimeout(svc)); !ok {
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
	h.forward.ServeHTTP(w, r.WithContext(withRoute(r.Context(), rt)))
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
	res := h.await(r.Context(), rt, nil)
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

// outcome is how a wait for an endpoint ended.
type outcome int

// waitResult is what await returns: the endpoint to forward to (outForward), or why not.
type waitResult struct {
	ep      endpoint
	out     outcome
	svc     *registry.Service
	timeout time.Duration
	err     error // the queue's refusal (outQueueFull)
}

const (
	outForward outcome = iota
	outQueueFull
	outServiceGone
	outShutdown
	outTimeout
	outAbandoned
)

// await holds rt in its service's bounded queue until an endpoint not in skip can serve, the hold
// timeout (counted from the request's arrival) runs out, the client goes away or the sidecar
// shuts down. While it waits, the operator is told and the pods are probed (wake). Endpoints in
// skip (ones that just refused a connection) become eligible again every reholdForget, or as soon
// as the sidecar's probe finds them answering (the probe's mark wakes the queue). It is the
// one waiting loop: a first hold and a hold after refused connections (rehold) both use it.
func (h *Handler) await(ctx context.Context, rt *route, skip map[string]bool) waitResult {
	ticket, err := h.o.Queue.Enter(rt.key)
	if err != nil {
		return waitResult{out: outQueueFull, err: err}
	}
	rt.held = true
	h.o.Metrics.SetHeld(rt.key, h.o.Queue.Waiting(rt.key))
	defer func() {
		h.o.Queue.Leave(ticket)
		if _, ok := h.o.Registry.Get(rt.key); ok {
			h.o.Metrics.SetHeld(rt.key, h.o.Queue.Waiting(rt.key))
		}
		rt.heldFor = time.Since(rt.start)
	}()
	var forget <-chan time.Time
	if skip != nil {
		t := time.NewTicker(h.reholdForget)
		defer t.Stop()
		forget = t.C
	}
	var timer *time.Timer
	for first := true; ; first = false {
		svc, ok := h.o.Registry.Get(rt.key)
		if !ok {
			return waitResult{out: outServiceGone}
		}
		timeout := h.holdTimeout(svc)
		if timer == nil {
			timer = time.NewTimer(time.Until(rt.start.Add(timeout)))
			defer timer.Stop()
		}
		if ep, ok := h.pick(svc, rt.port, skip); ok {
			if !first {
				h.o.Log.V(1).Info("forwarding held request", "service", rt.key, "target", ep.addr, "held", time.Since(rt.start))
			}
			return waitResult{ep: ep, out: outForward, svc: svc, timeout: timeout}
		}
		if first {
			h.o.Log.V(1).Info("holding request", "service", rt.key, "mode", svc.Mode, "waiting", h.o.Queue.Waiting(rt.key), "skipping", len(skip))
		}
		h.wake(svc, &rt.reported)
		select {
		case <-ticket.C:
			h.unskipAnswering(rt.key, skip)
		case <-forget:
			clear(skip)
		case <-ctx.Done():
			return waitResult{out: outAbandoned, svc: svc, timeout: timeout}
		case <-h.abort:
			return waitResult{out: outShutdown, svc: svc, timeout: timeout}
		case <-timer.C:
			return waitResult{out: outTimeout, svc: svc, timeout: timeout}
		}
	}
}

// unskipAnswering drops from skip the endpoints the probe found answering since they refused
// (a refusal clears the mark, registry.MarkRefused): a pod that restarted is used again as soon
// as it answers, not a whole reholdForget later.
func (h *Handler) unskipAnswering(key string, skip map[string]bool) {
	for addr := range skip {
		if ip, _, err := net.SplitHostPort(addr); err == nil && h.o.Registry.Answering(key, ip) {
			delete(skip, addr)
		}
	}
}

// holdTimeout is the service's own hold timeout from the stream, else the sidecar's default.
func (h *Handler) holdTimeout(svc *registry.Service) time.Duration {
	if svc.HoldTimeoutSeconds > 0 {
		return time.Duration(svc.HoldTimeoutSeconds) * time.Second
	}
	return h.o.HoldTimeout
}

// wake makes sure something is under way to make the service able to serve: the operator is
// told (once per held request, proxy mode only; the reporter de-duplicates across requests) and
// the pods are probed. It runs on every wake-up because the mode and the probe can arrive with
// a later stream update.
func (h *Handler) wake(svc *registry.Service, reported *bool) {
	if !*reported && svc.Mode == stream.ModeProxy {
		h.o.Reporter.Held(svc.Namespace, svc.Name)
		*reported = true
	}
	if svc.Probe != nil {
		h.o.Prober.Ensure(h.probeCtx, svc.Key)
	}
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

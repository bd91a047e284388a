package proxy

import (
	"context"
	"net"
	"time"

	"github.com/go-logr/logr"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/internal/hold"
	"github.com/elasti-dev/elasti/sidecar/internal/metrics"
	"github.com/elasti-dev/elasti/sidecar/internal/registry"
)

// waiter is the sidecar's waiting, kept apart from forwarding: it picks an endpoint that can
// serve a request and, when none can, holds the request in its service's bounded queue until
// one can. Both the Handler (a request that found no endpoint) and the transport (a request that
// every endpoint refused) hold through it.
//
// What releases a held request: a change of the service in the registry (a stream message, or
// the sidecar's own probe finding a pod answering) wakes the service's queue (hold.Queue.Wake,
// from the registry's change listener in package sidecar); every ticket then picks again. The
// hold timeout, the client going away and stop (the end of a drain) end a hold too.
type waiter struct {
	registry *registry.Registry
	queue    *hold.Queue
	reporter Reporter
	prober   Prober
	metrics  *metrics.Metrics
	log      logr.Logger
	// defaultHoldTimeout applies to services that set no HoldTimeoutSeconds.
	defaultHoldTimeout time.Duration
	// probeCtx bounds the probe loops started by held requests.
	probeCtx context.Context
	// abort is closed by stop: held requests give up with 503.
	abort chan struct{}
	// reholdForget is how long a re-held request skips the endpoints that refused it
	// (the package constant; tests make it longer).
	reholdForget time.Duration
	balancer     balancer
}

func newWaiter(ctx context.Context, o Options) *waiter {
	return &waiter{registry: o.Registry, queue: o.Queue, reporter: o.Reporter, prober: o.Prober, metrics: o.Metrics,
		log: o.Log, defaultHoldTimeout: o.HoldTimeout, probeCtx: ctx, abort: make(chan struct{}), reholdForget: reholdForget}
}

// stop makes every held request give up at once; calling it again is harmless.
func (w *waiter) stop() {
	select {
	case <-w.abort:
	default:
		close(w.abort)
	}
}

// reholdForget is how long a pod that refused a connection is skipped by a re-held request,
// unless the sidecar's probe finds it answering first (Handler.unskipAnswering).
const reholdForget = time.Second

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
func (w *waiter) await(ctx context.Context, rt *route, skip map[string]bool) waitResult {
	ticket, err := w.queue.Enter(rt.key)
	if err != nil {
		return waitResult{out: outQueueFull, err: err}
	}
	rt.held = true
	w.metrics.SetHeld(rt.key, w.queue.Waiting(rt.key))
	defer func() {
		w.queue.Leave(ticket)
		if _, ok := w.registry.Get(rt.key); ok {
			w.metrics.SetHeld(rt.key, w.queue.Waiting(rt.key))
		}
		rt.heldFor = time.Since(rt.start)
	}()
	var forget <-chan time.Time
	if skip != nil {
		t := time.NewTicker(w.reholdForget)
		defer t.Stop()
		forget = t.C
	}
	var timer *time.Timer
	for first := true; ; first = false {
		svc, ok := w.registry.Get(rt.key)
		if !ok {
			return waitResult{out: outServiceGone}
		}
		timeout := w.holdTimeout(svc)
		if timer == nil {
			timer = time.NewTimer(time.Until(rt.start.Add(timeout)))
			defer timer.Stop()
		}
		if ep, ok := w.pick(svc, rt.port, skip); ok {
			if !first {
				w.log.V(1).Info("forwarding held request", "service", rt.key, "target", ep.addr, "held", time.Since(rt.start))
			}
			return waitResult{ep: ep, out: outForward, svc: svc, timeout: timeout}
		}
		if first {
			w.log.V(1).Info("holding request", "service", rt.key, "mode", svc.Mode, "waiting", w.queue.Waiting(rt.key), "skipping", len(skip))
		}
		w.wake(svc, &rt.reported)
		select {
		case <-ticket.C:
			w.unskipAnswering(rt.key, skip)
		case <-forget:
			clear(skip)
		case <-ctx.Done():
			return waitResult{out: outAbandoned, svc: svc, timeout: timeout}
		case <-w.abort:
			return waitResult{out: outShutdown, svc: svc, timeout: timeout}
		case <-timer.C:
			return waitResult{out: outTimeout, svc: svc, timeout: timeout}
		}
	}
}

// unskipAnswering drops from skip the endpoints the probe found answering since they refused
// (a refusal clears the mark, registry.MarkRefused): a pod that restarted is used again as soon
// as it answers, not a whole reholdForget later.
func (w *waiter) unskipAnswering(key string, skip map[string]bool) {
	for addr := range skip {
		if ip, _, err := net.SplitHostPort(addr); err == nil && w.registry.Answering(key, ip) {
			delete(skip, addr)
		}
	}
}

// holdTimeout is the service's own hold timeout from the stream, else the sidecar's default.
func (w *waiter) holdTimeout(svc *registry.Service) time.Duration {
	if svc.HoldTimeoutSeconds > 0 {
		return time.Duration(svc.HoldTimeoutSeconds) * time.Second
	}
	return w.defaultHoldTimeout
}

// wake makes sure something is under way to make the service able to serve: the operator is
// told (once per held request, proxy mode only; the reporter de-duplicates across requests) and
// the pods are probed. It runs on every wake-up because the mode and the probe can arrive with
// a later stream update.
func (w *waiter) wake(svc *registry.Service, reported *bool) {
	if !*reported && svc.Mode == stream.ModeProxy {
		w.reporter.Held(svc.Namespace, svc.Name)
		*reported = true
	}
	if svc.Probe != nil {
		w.prober.Ensure(w.probeCtx, svc.Key)
	}
}

// pick chooses an endpoint of svc that can serve the port the request names: ready in the
// stream, or answering the sidecar's probe. skip (may be nil) excludes addresses already tried.
func (w *waiter) pick(svc *registry.Service, ref portRef, skip map[string]bool) (endpoint, bool) {
	port, ok := ref.resolve(svc)
	if !ok {
		return endpoint{}, false
	}
	usable := func(i int) (int32, bool) {
		ep := svc.Endpoints[i]
		if !ep.Ready && !w.registry.Answering(svc.Key, ep.IP) {
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
	nth := int(w.balancer.counter(svc.Key).Add(1)-1) % count
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

// next picks another endpoint for a retry.
func (w *waiter) next(rt *route, tried map[string]bool) (endpoint, bool) {
	svc, ok := w.registry.Get(rt.key)
	if !ok {
		return endpoint{}, false
	}
	return w.pick(svc, rt.port, tried)
}

package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elasti-dev/elasti/sidecar/internal/metrics"
)

// newReverseProxy builds the forwarding half: a ReverseProxy that streams (see flushInterval),
// keeps Host, sets X-Forwarded-*, and goes through the retrying transport.
func (h *Handler) newReverseProxy() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      h.transport,
		FlushInterval:  flushInterval,
		BufferPool:     bufferPool{},
		ModifyResponse: modifyResponse,
		ErrorHandler:   h.upstreamError,
		ErrorLog:       nil,
	}
}

// rewrite points the outbound request at the chosen pod. Host is kept as the client sent it;
// X-Forwarded-For gets the client appended, X-Forwarded-Host and -Proto are kept when a gateway
// in front set them and set otherwise.
func rewrite(pr *httputil.ProxyRequest) {
	rt := routeFrom(pr.In.Context())
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = rt.target.addr
	pr.Out.Host = pr.In.Host
	if prior := pr.In.Header["X-Forwarded-For"]; len(prior) > 0 {
		pr.Out.Header["X-Forwarded-For"] = prior // SetXForwarded appends the client to it
	}
	pr.SetXForwarded()
	if v := pr.In.Header.Get("X-Forwarded-Host"); v != "" {
		pr.Out.Header.Set("X-Forwarded-Host", v)
	}
	if v := pr.In.Header.Get("X-Forwarded-Proto"); v != "" {
		pr.Out.Header.Set("X-Forwarded-Proto", v)
	}
}

// flushInterval is how long response bytes may wait in the sidecar's write buffer. Server-sent
// events and responses of unknown length (chunked) are flushed at every write whatever it says
// (ReverseProxy does so for them); this bounds the wait for responses of known length, headers
// included: their bytes reach the client within a millisecond of arriving even when the pod
// sends them slowly. It is not -1 (flush at once) because ReverseProxy then flushes the headers
// from a timer goroutine started for every response and the body in a second write: a
// response that arrives whole now leaves in one write when the handler returns (that cost a
// goroutine and a write system call per request; docs/benchmarks.md).
const flushInterval = time.Millisecond

// modifyResponse records the status and adds Server-Timing for held requests.
func modifyResponse(resp *http.Response) error {
	annotate(routeFrom(resp.Request.Context()), resp)
	return nil
}

// annotate records the status of rt's response and adds Server-Timing when rt was held.
func annotate(rt *route, resp *http.Response) {
	rt.status = resp.StatusCode
	if rt.held {
		resp.Header.Add("Server-Timing", "elasti-hold;dur="+strconv.FormatFloat(float64(rt.heldFor)/float64(time.Millisecond), 'f', 1, 64))
	}
}

// upstreamError answers 502 with a JSON body, unless the client is gone.
func (h *Handler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	h.failed(w, r, routeFrom(r.Context()), err)
}

// failed answers a request that could not be forwarded to rt.target (upstreamError).
func (h *Handler) failed(w http.ResponseWriter, r *http.Request, rt *route, err error) {
	if r.Context().Err() != nil {
		rt.status = 499
		return
	}
	rt.status = http.StatusBadGateway
	h.o.Metrics.Rejected(rt.key, metrics.ReasonUpstreamError)
	h.o.Log.V(1).Info("forwarding failed", "service", rt.key, "target", rt.target.addr, "error", err.Error())
	writeError(w, http.StatusBadGateway, apiError{Error: fmt.Sprintf("forwarding to %s: %v", rt.target.addr, err),
		Host: r.Host, Service: rt.key, HeldSeconds: heldSeconds(rt)})
}

// bufferPool lends the ReverseProxy 32 KiB copy buffers, so bodies of any size pass through in
// constant memory without a new buffer per request.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(buffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

// transport sends requests to pods: HTTP/1.1, or h2c (prior knowledge) when the client spoke
// HTTP/2 or the Service port declares h2c/gRPC. A connection that fails before the request was
// sent is retried, on another endpoint when there is one, as long as no byte of the body has
// been read (nothing is lost, nothing is replayed).
type transport struct {
	// wait picks another endpoint for a retry and holds the request again when none is left.
	wait *waiter
	// direct sends the bodiless HTTP/1 requests (see direct); http1 and h2c the others.
	direct   *directTransport
	http1    *http.Transport
	h2c      *http.Transport
	attempts int
	backoff  time.Duration
}

func (h *Handler) newTransport() *transport {
	dialer := &net.Dialer{Timeout: h.o.DialTimeout, KeepAlive: 30 * time.Second}
	base := func() *http.Transport {
		return &http.Transport{
			DialContext:           dialer.DialContext,
			MaxIdleConns:          0,
			MaxIdleConnsPerHost:   h.o.MaxIdleConnsPerHost,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			DisableCompression:    true,
		}
	}
	h1, h2 := base(), base()
	h2.Protocols = new(http.Protocols)
	h2.Protocols.SetUnencryptedHTTP2(true)
	maxIdle := h.o.MaxIdleConnsPerHost
	if maxIdle == 0 {
		maxIdle = http.DefaultMaxIdleConnsPerHost // as http.Transport reads 0
	}
	d := &directTransport{dial: dialer.DialContext, maxIdle: maxIdle, idleTimeout: h1.IdleConnTimeout}
	return &transport{wait: h.wait, direct: d, http1: h1, h2c: h2, attempts: 1 + h.o.ConnectRetries, backoff: h.o.ConnectRetryBackoff}
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := routeFrom(req.Context())
	var body *trackingBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &trackingBody{r: req.Body}
		req.Body = body
	}
	var tried map[string]bool
	for attempt := 1; ; attempt++ {
		resp, err := t.base(req).RoundTrip(req)
		if err == nil || !isDialError(err) || body.touched() || req.Context().Err() != nil {
			return resp, err
		}
		if tried == nil {
			tried = map[string]bool{}
		}
		if err := t.again(req.Context(), rt, tried, attempt, err); err != nil {
			return resp, err
		}
		req = req.Clone(req.Context())
		req.URL.Host = rt.target.addr
		if body != nil {
			req.Body = body
		}
	}
}

// sendDirect is RoundTrip for a request the handler writes itself (forwardDirect): no body, so
// nothing of it can have been consumed by a failed attempt.
func (t *transport) sendDirect(ctx context.Context, rt *route, head *http.Request, msg directMessage) (*http.Response, error) {
	var tried map[string]bool
	for attempt := 1; ; attempt++ {
		resp, err := t.direct.send(directExchange{ctx: ctx, addr: rt.target.addr, head: head, msg: msg})
		if err == nil || !isDialError(err) || ctx.Err() != nil {
			return resp, err
		}
		if tried == nil {
			tried = map[string]bool{}
		}
		if err := t.again(ctx, rt, tried, attempt, err); err != nil {
			return nil, err
		}
	}
}

// again follows the dial error err of attempt: rt.target is marked refused and set to another
// endpoint when there is one; when every endpoint was tried and the retries are used up, the
// request is held again. It returns nil when the request is to be sent again (after the backoff)
// to rt.target, and otherwise the error to answer with.
func (t *transport) again(ctx context.Context, rt *route, tried map[string]bool, attempt int, err error) error {
	// Nothing was sent: try again, elsewhere if possible.
	t.wait.registry.MarkRefused(rt.key, rt.target.ip)
	tried[rt.target.addr] = true
	next, ok := t.wait.next(rt, tried)
	if !ok && attempt >= t.attempts {
		// Every pod we know of refused or did not answer (typically one that was just scaled
		// away while the stream still listed it). The request is still intact, so hold it
		// again until another pod can serve, instead of failing it.
		next, ok = t.rehold(ctx, rt, tried)
		if !ok {
			return err
		}
	}
	if ok {
		rt.target = next
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(t.backoff):
		return nil
	}
}

// rehold holds the request again, in the service's queue like any held request (the operator
// is told, the pods are probed, the bounds and the hold timeout counted from the request's
// arrival apply), until an endpoint that has not just refused can serve.
func (t *transport) rehold(ctx context.Context, rt *route, tried map[string]bool) (endpoint, bool) {
	t.wait.log.V(1).Info("no pod answered; holding the request again", "service", rt.key, "tried", len(tried))
	res := t.wait.await(ctx, rt, tried)
	return res.ep, res.out == outForward
}

func (t *transport) base(req *http.Request) http.RoundTripper {
	rt := routeFrom(req.Context())
	if req.Header.Get("Upgrade") == "" && (req.ProtoMajor == 2 || rt.target.h2c) {
		return t.h2c
	}
	if direct(req) {
		return t.direct
	}
	return t.http1
}

// isDialError reports whether err happened while connecting, before any byte was written.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// trackingBody records whether the transport read from the request body; Close is left to the
// server (the body belongs to the inbound request).
type trackingBody struct {
	r    io.ReadCloser
	read atomic.Bool
}

func (b *trackingBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.r.Read(p)
}

func (b *trackingBody) Close() error { return nil }

// touched is safe on a nil body.
func (b *trackingBody) touched() bool { return b != nil && b.read.Load() }

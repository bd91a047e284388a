package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The lean path forwards the requests most traffic consists of — the ones the directTransport
// sends (see direct) — without httputil.ReverseProxy: the request head is written from the
// inbound request straight into the pod connection's buffer, and the response head is handed to
// the client without copying its values. For every request the ReverseProxy cloned the request,
// its URL and its header map, built a client trace and a context for 1xx responses, wrote the
// head through fmt and a sorted copy of the headers, parsed the response's Content-Type and
// armed a flush timer (docs/sidecar.md, Cost of the forward path).
//
// What reaches the pod and what reaches the client is what the ReverseProxy sends
// (TestLeanSendsWhatReverseProxySends compares both on the wire): Host kept, X-Forwarded-* as in
// rewrite, hop-by-hop headers and the fields the Connection header names removed both ways,
// `Te: trailers` passed on, no Go User-Agent added, 1xx responses passed on, trailers, a response
// of unknown length or an event stream flushed at every write and one of known length within
// flushInterval, a body that breaks off ending the client's connection (http.ErrAbortHandler).
// The one difference: header fields with different names are written in the map's order, not
// sorted (their order has no meaning, RFC 9110 section 5.3). Requests whose head the
// ReverseProxy would rewrite in some way this does not (see lean) still go through it.

// lean reports whether r, going to target, takes the lean path: a request direct would send,
// to an HTTP/1 pod, whose Host, URL and Connection header the ReverseProxy would pass on as they
// are.
func lean(r *http.Request, target endpoint) bool {
	// An absolute-form target sets r.Host from the URL, which net/http's server does not check
	// like a Host field: the ReverseProxy's Request.Write punycodes or blanks what is not a valid
	// Host (a review found non-ASCII and `"<>` passed on as they were).
	if target.h2c || !direct(r) || r.Host == "" || !httpguts.ValidHostHeader(r.Host) || r.URL.Opaque != "" || !plainQuery(r.URL.RawQuery) {
		return false
	}
	if r.Host[0] == '[' && strings.IndexByte(r.Host, '%') >= 0 {
		return false // an IPv6 zone, which Request.Write removes
	}
	n := 0
	for _, v := range r.Header["Connection"] {
		n += strings.Count(v, ",") + 1
	}
	return n <= maxConnectionTokens
}

// maxConnectionTokens bounds the field names a lean request's Connection header may list
// (gateways send one: keep-alive); more go through the ReverseProxy.
const maxConnectionTokens = 8

// plainQuery reports whether the ReverseProxy would keep query q as it is (its
// cleanQueryParams re-encodes one with a semicolon, a malformed escape or too many parameters,
// and every query when GODEBUG sets urlmaxqueryparams).
func plainQuery(q string) bool {
	if q == "" {
		return true
	}
	if customMaxQueryParams || strings.Count(q, "&") >= 10000 {
		return false
	}
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ';':
			return false
		case '%':
			if i+2 >= len(q) || !ishex(q[i+1]) || !ishex(q[i+2]) {
				return false
			}
		}
	}
	return true
}

var customMaxQueryParams = strings.Contains(os.Getenv("GODEBUG"), "urlmaxqueryparams")

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// forwardDirect forwards r to rt.target on the lean path and answers the client.
func (h *Handler) forwardDirect(w http.ResponseWriter, r *http.Request, rt *route) {
	out := leanRequests.Get().(*leanRequest)
	defer out.release()
	*out = leanRequest{w: w, r: r, path: r.URL.EscapedPath()}
	if out.path == "" {
		out.path = "/"
	}
	if containsCTL(out.path) || containsCTL(r.URL.RawQuery) {
		h.failed(w, r, rt, errors.New("net/http: can't write control character in Request.URL"))
		return
	}
	out.dropListed()
	res, err := h.transport.sendDirect(r.Context(), rt, r, out)
	if err != nil {
		h.failed(w, r, rt, err)
		return
	}
	h.respond(w, rt, res)
}

// leanRequest is the request head the pod gets, written from the inbound request. One is used
// by one exchange only (the directTransport does not keep it).
type leanRequest struct {
	w http.ResponseWriter
	r *http.Request
	// path is the request URI's path (URL.RequestURI without the query).
	path string
	// dropped are the canonical names the Connection header lists (removed like hop-by-hop
	// headers).
	dropped [maxConnectionTokens]string
	ndrop   int
}

var leanRequests = sync.Pool{New: func() any { return new(leanRequest) }}

func (m *leanRequest) release() {
	*m = leanRequest{}
	leanRequests.Put(m)
}

func (m *leanRequest) dropListed() {
	for _, v := range m.r.Header["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" && m.ndrop < len(m.dropped) {
				m.dropped[m.ndrop] = textproto.CanonicalMIMEHeaderKey(f)
				m.ndrop++
			}
		}
	}
}

func (m *leanRequest) listed(k string) bool {
	for _, d := range m.dropped[:m.ndrop] {
		if d == k {
			return true
		}
	}
	return false
}

// newlineToSpace is net/http's sanitising of header values on the wire.
var newlineToSpace = strings.NewReplacer("\n", " ", "\r", " ")

func writeField(bw *bufio.Writer, k, v string) {
	_, _ = bw.WriteString(k)
	_, _ = bw.WriteString(": ")
	_, _ = bw.WriteString(textproto.TrimString(newlineToSpace.Replace(v)))
	_, _ = bw.WriteString("\r\n")
}

// writeHead writes what Request.Write writes for the ReverseProxy's outbound request. Errors
// stay in bw until its Flush.
func (m *leanRequest) writeHead(bw *bufio.Writer) error {
	r := m.r
	_, _ = bw.WriteString(r.Method)
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(m.path)
	if r.URL.ForceQuery || r.URL.RawQuery != "" {
		_ = bw.WriteByte('?')
		_, _ = bw.WriteString(r.URL.RawQuery)
	}
	_, _ = bw.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = bw.WriteString(r.Host)
	_, _ = bw.WriteString("\r\n")
	if ua := r.Header["User-Agent"]; len(ua) > 0 && !m.listed("User-Agent") {
		if v := textproto.TrimString(newlineToSpace.Replace(ua[0])); v != "" {
			writeField(bw, "User-Agent", v)
		}
	}
	for k, vv := range r.Header {
		if !passed(k) || m.listed(k) {
			continue
		}
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
	if httpguts.HeaderValuesContainsToken(r.Header["Te"], "trailers") {
		writeField(bw, "Te", "trailers")
	}
	m.writeForwarded(bw)
	_, _ = bw.WriteString("\r\n")
	return nil
}

// passed reports whether the inbound header field k goes to the pod as it is: not one Request.Write
// writes itself (Host, User-Agent, the framing), not hop-by-hop, not one rewrite sets.
func passed(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer",
		"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Upgrade",
		"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
		return false
	}
	return true
}

// writeForwarded writes the X-Forwarded-* fields as rewrite sets them.
func (m *leanRequest) writeForwarded(bw *bufio.Writer) {
	r := m.r
	if client, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		_, _ = bw.WriteString("X-Forwarded-For: ")
		for _, v := range r.Header["X-Forwarded-For"] {
			_, _ = bw.WriteString(v)
			_, _ = bw.WriteString(", ")
		}
		_, _ = bw.WriteString(client)
		_, _ = bw.WriteString("\r\n")
	}
	host := first(r.Header, "X-Forwarded-Host")
	if host == "" {
		host = r.Host
	}
	writeField(bw, "X-Forwarded-Host", host)
	proto := first(r.Header, "X-Forwarded-Proto")
	if proto == "" {
		proto = "http"
		if r.TLS != nil {
			proto = "https"
		}
	}
	writeField(bw, "X-Forwarded-Proto", proto)
}

func first(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// informational passes a 1xx response on to the client, as the ReverseProxy does.
func (m *leanRequest) informational(code int, h textproto.MIMEHeader) error {
	// WriteHeader sends a 1xx response with the fields of w.Header() and keeps them for the next
	// response: the final response's own fields set before (Connection: close, when the
	// connection must end) are put aside and restored.
	dst := m.w.Header()
	own := dst.Clone()
	clear(dst)
	copyHeader(dst, http.Header(h))
	m.w.WriteHeader(code)
	clear(dst)
	copyHeader(dst, own)
	return nil
}

func copyHeader(dst, src http.Header) {
	for k, vv := range src {
		for _, v := range vv {
			dst.Add(k, v)
		}
	}
}

func containsCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' || b == 0x7f {
			return true
		}
	}
	return false
}

// respond answers the client with res, as the ReverseProxy does with a response that does not
// switch protocols.
func (h *Handler) respond(w http.ResponseWriter, rt *route, res *http.Response) {
	removeHopByHop(res.Header)
	annotate(rt, res)
	dst := w.Header()
	for k, vv := range res.Header {
		// res is ours alone: its values are handed over, not copied.
		if prev, ok := dst[k]; ok {
			dst[k] = append(prev, vv...)
		} else {
			dst[k] = vv
		}
	}
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		dst.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)
	if err := h.copyBody(w, res); err != nil {
		_ = res.Body.Close()
		// Streaming has begun: all that is left is to end the client's connection.
		panic(http.ErrAbortHandler)
	}
	_ = res.Body.Close() // fills res.Trailer
	if len(res.Trailer) > 0 {
		_ = http.NewResponseController(w).Flush() // chunked, so that the trailers can follow
	}
	if len(res.Trailer) == announced {
		copyHeader(dst, res.Trailer)
		return
	}
	for k, vv := range res.Trailer {
		for _, v := range vv {
			dst.Add(http.TrailerPrefix+k, v)
		}
	}
}

// removeHopByHop removes the fields the Connection header names and the hop-by-hop fields.
func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, f := range hopHeaders {
		delete(h, f)
	}
}

// hopHeaders are the ReverseProxy's hop-by-hop fields (RFC 9110 section 7.6.1 and older ones).
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// copyBody copies the response body to the client. A body that is already all in the
// connection's buffer (or none) is copied at once and leaves with the response head when the
// handler returns; otherwise it is flushed as the ReverseProxy flushes (flushInterval, or at every
// write for an event stream or a body of unknown length).
func (h *Handler) copyBody(w http.ResponseWriter, res *http.Response) error {
	latency := flushInterval
	if res.ContentLength == -1 || isEventStream(res.Header.Get("Content-Type")) {
		latency = -1
	}
	var dst io.Writer = w
	if latency < 0 || !arrived(res) {
		lw := &latencyWriter{dst: w, flush: http.NewResponseController(w).Flush, latency: latency}
		defer lw.stop()
		lw.start()
		dst = lw
	}
	buf := bufferPool{}.Get()
	defer bufferPool{}.Put(buf)
	for {
		n, rerr := res.Body.Read(buf)
		if rerr != nil && rerr != io.EOF && !errors.Is(rerr, context.Canceled) {
			h.o.Log.V(1).Info("reading the response body failed", "error", rerr.Error())
		}
		if n > 0 {
			nw, werr := dst.Write(buf[:n])
			if werr != nil {
				return werr
			}
			if nw != n {
				return io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// arrived reports whether res's whole body is already read from the pod's connection (or it has
// none): copying it cannot wait for the pod.
func arrived(res *http.Response) bool {
	if res.Body == http.NoBody {
		return true
	}
	b, ok := res.Body.(*directBody)
	return ok && res.ContentLength >= 0 && int64(b.c.br.Buffered()) >= res.ContentLength
}

// isEventStream reports whether a Content-Type is text/event-stream, as the ReverseProxy parses
// it; mime.ParseMediaType runs only for a value that may be one.
func isEventStream(ct string) bool {
	if len(ct) < len("text/event-stream") || !strings.Contains(strings.ToLower(ct), "event-stream") {
		return false
	}
	base, _, _ := mime.ParseMediaType(ct)
	return base == "text/event-stream"
}

// latencyWriter is the ReverseProxy's maxLatencyWriter: latency < 0 flushes at every write;
// otherwise a write is flushed at most latency later, and so is the head (start).
type latencyWriter struct {
	dst     io.Writer
	flush   func() error
	latency time.Duration

	mu           sync.Mutex // t, flushPending and flushing dst
	t            *time.Timer
	flushPending bool
}

// start makes sure the head is flushed within latency (at once when it is negative, from the
// timer's goroutine as in the ReverseProxy, so that a first write that comes before still lets
// the server sniff a missing Content-Type), even if the body is slow.
func (m *latencyWriter) start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flushPending = true
	m.t = time.AfterFunc(m.latency, m.delayedFlush)
}

func (m *latencyWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.dst.Write(p)
	if m.latency < 0 {
		_ = m.flush()
		return n, err
	}
	if m.flushPending {
		return n, err
	}
	if m.t == nil {
		m.t = time.AfterFunc(m.latency, m.delayedFlush)
	} else {
		m.t.Reset(m.latency)
	}
	m.flushPending = true
	return n, err
}

func (m *latencyWriter) delayedFlush() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.flushPending { // stop was called after the timer fired
		return
	}
	_ = m.flush()
	m.flushPending = false
}

func (m *latencyWriter) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flushPending = false
	if m.t != nil {
		m.t.Stop()
	}
}

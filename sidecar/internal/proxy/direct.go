package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"time"
)

// directTransport sends the requests most traffic consists of — HTTP/1 GET, HEAD, OPTIONS and
// TRACE without a body or an upgrade (see direct) — over kept-alive HTTP/1.1 connections to
// pods, writing the request and reading the response on the handler's own goroutine.
// http.Transport hands every request to a writer goroutine and every response back from a
// reader goroutine of its connection; on a forward path that does little else, those hand-offs
// were the largest cost after the system calls themselves (docs/benchmarks.md). Every other
// request (a body, an upgrade, h2c) goes through http.Transport, which streams bodies in both
// directions at once and tunnels upgrades.
//
// What http.Transport did for these requests and this keeps: at most maxIdle idle connections
// per pod, closed after idleTimeout unused; a connection is reused only when its response was
// read to the end and neither side asked to close it; a request is sent again on another
// connection when a kept-alive one turns out closed by the pod before any byte of the response
// came back (its idle timeout: these requests have no body and a method that may be repeated);
// the request's context ends the exchange (the client went away); 1xx responses reach the
// client through the ReverseProxy's trace hook; dial errors come back as *net.OpError "dial",
// for the connect retry.
type directTransport struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle     int
	idleTimeout time.Duration
	// maxHead bounds the bytes read for a response's head (1xx ones included); 0 means
	// defaultMaxHead.
	maxHead int64

	mu    sync.Mutex
	idle  map[string][]*directConn // addr -> idle connections, most recently used last
	sweep *time.Timer              // armed while any connection is idle
}

// direct reports whether directTransport may send req: HTTP/1, no body, a method that may be
// repeated, no upgrade and no Expect.
func direct(req *http.Request) bool {
	if req.ProtoMajor != 1 || (req.Body != nil && req.Body != http.NoBody) || req.ContentLength > 0 {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
	default:
		return false
	}
	return req.Header.Get("Upgrade") == "" && req.Header.Get("Expect") == ""
}

// directConn is one connection to a pod, with the bytes received on it counted.
type directConn struct {
	conn      net.Conn
	addr      string
	br        *bufio.Reader
	bw        *bufio.Writer
	received  int64
	idleSince time.Time
	// headLeft, while reading a response head (limitHead), is what may still be read for it.
	headLeft  int64
	limitHead bool
}

// defaultMaxHead is what net/http's Transport allows for a response head (its
// MaxResponseHeaderBytes default): a pod that sends an endless head must not grow the sidecar's
// memory without bound.
const defaultMaxHead = 10 << 20

// errHeadTooLarge ends an exchange whose response head goes past the limit.
var errHeadTooLarge = errors.New("the pod's response head is larger than the sidecar accepts")

func (c *directConn) Read(p []byte) (int, error) {
	if c.limitHead {
		if c.headLeft <= 0 {
			return 0, errHeadTooLarge
		}
		if int64(len(p)) > c.headLeft {
			p = p[:c.headLeft]
		}
	}
	n, err := c.conn.Read(p)
	c.received += int64(n)
	if c.limitHead {
		c.headLeft -= int64(n)
	}
	return n, err
}

// maxInformational bounds the 1xx responses accepted before the final one.
const maxInformational = 20

// directMessage is a request the directTransport sends: its head is written by writeHead (these
// requests have no body), and the 1xx responses to it are passed to informational.
type directMessage interface {
	writeHead(bw *bufio.Writer) error
	informational(code int, h textproto.MIMEHeader) error
}

// directExchange is one request to send: to addr, ending with ctx; head is what the response is
// read for (its Method: a response to HEAD has no body) and becomes resp.Request; close asks the
// pod to close the connection after the response.
type directExchange struct {
	ctx   context.Context
	addr  string
	head  *http.Request
	msg   directMessage
	close bool
}

// RoundTrip implements http.RoundTripper.
func (t *directTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.send(directExchange{ctx: req.Context(), addr: req.URL.Host, head: req, msg: requestMessage{req}, close: req.Close})
}

// requestMessage is a request given to RoundTrip: written by net/http, its 1xx responses passed to
// the request's httptrace hook.
type requestMessage struct{ req *http.Request }

func (m requestMessage) writeHead(bw *bufio.Writer) error { return m.req.Write(bw) }

func (m requestMessage) informational(code int, h textproto.MIMEHeader) error {
	if trace := httptrace.ContextClientTrace(m.req.Context()); trace != nil && trace.Got1xxResponse != nil {
		return trace.Got1xxResponse(code, h)
	}
	return nil
}

// send sends x on an idle connection to x.addr or a new one.
func (t *directTransport) send(x directExchange) (*http.Response, error) {
	for {
		c, reused, err := t.get(x.ctx, x.addr)
		if err != nil {
			return nil, err
		}
		received := c.received
		resp, err := t.exchange(c, x)
		if err == nil {
			return resp, nil
		}
		_ = c.conn.Close()
		if !reused || c.received != received || x.ctx.Err() != nil {
			return nil, err
		}
		// A kept-alive connection the pod had closed: nothing of the response came back, so
		// the request is sent again, on another idle connection or a new one.
	}
}

// exchange writes x on c and reads the response head; the body is read from c as the caller
// reads resp.Body, and c goes back to the pool once it is read to the end.
func (t *directTransport) exchange(c *directConn, x directExchange) (*http.Response, error) {
	stop := context.AfterFunc(x.ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	resp, err := t.writeAndRead(c, x)
	if err != nil {
		stop()
		if x.ctx.Err() != nil {
			return nil, x.ctx.Err()
		}
		return nil, err
	}
	reuse := !resp.Close && !x.close
	if resp.Body == http.NoBody {
		t.release(c, stop, reuse)
		return resp, nil
	}
	resp.Body = &directBody{t: t, c: c, body: resp.Body, stop: stop, reuse: reuse}
	return resp, nil
}

func (t *directTransport) writeAndRead(c *directConn, x directExchange) (*http.Response, error) {
	if err := x.msg.writeHead(c.bw); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	c.limitHead, c.headLeft = true, t.maxHead
	if c.headLeft <= 0 {
		c.headLeft = defaultMaxHead
	}
	defer func() { c.limitHead = false }()
	for range maxInformational {
		resp, err := http.ReadResponse(c.br, x.head)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			// These requests never ask to upgrade: the connection is no longer HTTP.
			return nil, errors.New("the pod switched protocols without being asked to")
		}
		if resp.StatusCode < 100 {
			return nil, fmt.Errorf("the pod answered with status %d, which is not an HTTP status", resp.StatusCode)
		}
		if resp.StatusCode > 199 {
			return resp, nil
		}
		// An informational response (103 Early Hints, ...): passed on, then the next one.
		if err := x.msg.informational(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("more than %d informational responses", maxInformational)
}

// release ends an exchange: c goes back to the pool when reuse says it may and the request's
// context did not interrupt it; it is closed otherwise.
func (t *directTransport) release(c *directConn, stop func() bool, reuse bool) {
	if stop() && reuse && c.br.Buffered() == 0 {
		t.put(c)
		return
	}
	_ = c.conn.Close()
}

// directBody is a response body read from its connection; the connection is released when the
// body has been read to the end (reused) or closed before (closed).
type directBody struct {
	t     *directTransport
	c     *directConn
	body  io.ReadCloser
	stop  func() bool
	reuse bool
	done  bool
}

func (b *directBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.body.Read(p)
	if err != nil {
		b.done = true
		b.t.release(b.c, b.stop, b.reuse && errors.Is(err, io.EOF))
	}
	return n, err
}

func (b *directBody) Close() error {
	if !b.done {
		b.done = true
		b.t.release(b.c, b.stop, false) // unread bytes remain on the connection
	}
	return nil
}

// get returns an idle connection to addr (reused) or dials a new one.
func (t *directTransport) get(ctx context.Context, addr string) (*directConn, bool, error) {
	now := time.Now()
	t.mu.Lock()
	for conns := t.idle[addr]; len(conns) > 0; conns = t.idle[addr] {
		c := conns[len(conns)-1]
		conns[len(conns)-1] = nil
		t.idle[addr] = conns[:len(conns)-1]
		if now.Sub(c.idleSince) < t.idleTimeout && quietConn(c.conn) {
			t.mu.Unlock()
			return c, true, nil
		}
		_ = c.conn.Close()
	}
	t.mu.Unlock()
	conn, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	c := &directConn{conn: conn, addr: addr}
	c.br = bufio.NewReaderSize(c, 4<<10)
	c.bw = bufio.NewWriterSize(conn, 4<<10)
	return c, false, nil
}

// put keeps c idle, unless addr already has maxIdle idle connections.
func (t *directTransport) put(c *directConn) {
	c.idleSince = time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.idle[c.addr]) >= t.maxIdle {
		_ = c.conn.Close()
		return
	}
	if t.idle == nil {
		t.idle = map[string][]*directConn{}
	}
	t.idle[c.addr] = append(t.idle[c.addr], c)
	if t.sweep == nil {
		t.sweep = time.AfterFunc(t.idleTimeout, t.closeStale)
	}
}

// closeStale closes the connections idle for idleTimeout (a pod that went away, traffic that
// stopped) and runs again while any connection is idle.
func (t *directTransport) closeStale() {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	oldest := now
	for addr, conns := range t.idle {
		kept := conns[:0]
		for _, c := range conns {
			if now.Sub(c.idleSince) >= t.idleTimeout {
				_ = c.conn.Close()
				continue
			}
			kept = append(kept, c)
			if c.idleSince.Before(oldest) {
				oldest = c.idleSince
			}
		}
		clear(conns[len(kept):])
		if len(kept) == 0 {
			delete(t.idle, addr)
		} else {
			t.idle[addr] = kept
		}
	}
	if len(t.idle) == 0 {
		t.sweep = nil
		return
	}
	t.sweep.Reset(oldest.Add(t.idleTimeout).Sub(now))
}

// CloseIdleConnections closes every idle connection.
func (t *directTransport) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for addr, conns := range t.idle {
		for _, c := range conns {
			_ = c.conn.Close()
		}
		delete(t.idle, addr)
	}
}

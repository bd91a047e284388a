package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptedPod records the head of every request it gets and answers with the current script:
// raw bytes, written in parts with pause between them; close ends the connection after it.
type scriptedPod struct {
	ln    net.Listener
	heads chan string

	mu     sync.Mutex
	script []string
	pause  time.Duration
	close  bool
}

func newScriptedPod(t *testing.T) *scriptedPod {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &scriptedPod{ln: ln, heads: make(chan string, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *scriptedPod) set(pause time.Duration, closeAfter bool, parts ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.script, p.pause, p.close = parts, pause, closeAfter
}

func (p *scriptedPod) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		p.heads <- head.String()
		p.mu.Lock()
		script, pause, closeAfter := p.script, p.pause, p.close
		p.mu.Unlock()
		for i, part := range script {
			if i > 0 {
				time.Sleep(pause)
			}
			if _, err := io.WriteString(c, part); err != nil {
				return
			}
		}
		if closeAfter {
			return
		}
	}
}

func (p *scriptedPod) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// exchange is what one raw request got: the head the pod received (its request line, then its
// fields sorted: the lean path does not sort them) and the responses the client read.
type exchange struct {
	podHead []string
	answers []answer
	err     string // the client could not read the whole answer
}

type answer struct {
	Status   int
	Header   http.Header
	Body     string
	Trailer  http.Header
	Length   int64
	Encoding []string
}

func roundTrip(t *testing.T, addr string, pod *scriptedPod, raw string) exchange {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	var x exchange
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	require.NoError(t, err)
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			x.err = "no response"
			break
		}
		resp.Header.Del("Date")
		a := answer{Status: resp.StatusCode, Header: resp.Header, Length: resp.ContentLength, Encoding: resp.TransferEncoding}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			x.err = "body cut off"
		}
		a.Body, a.Trailer = string(b), resp.Trailer
		x.answers = append(x.answers, a)
		if resp.StatusCode >= 200 || err != nil {
			break
		}
	}
	select {
	case head := <-pod.heads:
		lines := strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")
		// Fields with different names may come in any order; the values of one name must keep
		// theirs (RFC 9110 section 5.3): a stable sort by name only.
		slices.SortStableFunc(lines[1:], func(a, b string) int {
			na, _, _ := strings.Cut(a, ":")
			nb, _, _ := strings.Cut(b, ":")
			return strings.Compare(strings.ToLower(na), strings.ToLower(nb))
		})
		x.podHead = lines
	case <-time.After(10 * time.Second):
		t.Fatal("the pod got no request")
	}
	return x
}

// TestLeanSendsWhatReverseProxySends: for each request and pod answer, the lean path and the
// ReverseProxy put the same request on the pod's connection (up to the order of fields) and the
// same response on the client's.
func TestLeanSendsWhatReverseProxySends(t *testing.T) {
	pod := newScriptedPod(t)
	h, _ := newHandler(t, ep("a", pod.port(), true))
	target := endpoint{ip: "127.0.0.1", addr: pod.ln.Addr().String()}
	var held bool
	newRoute := func() *route {
		rt := &route{key: "shop/orders", target: target, start: time.Now()}
		if held {
			rt.held, rt.heldFor = true, 1500*time.Millisecond
		}
		return rt
	}
	viaLean := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt := newRoute()
		if !lean(r, rt.target) {
			t.Errorf("%s %s does not take the lean path", r.Method, r.RequestURI)
		}
		h.forwardDirect(w, r, rt)
	}))
	defer viaLean.Close()
	viaProxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.forward.ServeHTTP(w, r.WithContext(withRoute(r.Context(), newRoute())))
	}))
	defer viaProxy.Close()

	const plain = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
	gateway := "GET /api/orders?page=1&q=%41b HTTP/1.1\r\nHost: orders.shop.svc.cluster.local\r\nUser-Agent: curl/8\r\n" +
		"Accept: */*\r\nAccept-Encoding: gzip\r\nX-Request-Id: 7f0c\r\nConnection: keep-alive\r\n\r\n"
	cases := []struct {
		name    string
		request string
		pod     []string
		pause   time.Duration
		close   bool
		held    bool
	}{
		{name: "gateway GET", request: gateway, pod: []string{plain}},
		{name: "no User-Agent, empty and repeated fields", request: "GET / HTTP/1.1\r\nHost: orders.shop\r\nX-Empty:\r\nX-Two: 1\r\nX-Two: 2\r\n\r\n", pod: []string{plain}},
		{name: "hop-by-hop and Connection-named fields", request: "GET /h HTTP/1.1\r\nHost: orders.shop\r\n" +
			"Connection: keep-alive, X-Drop, user-agent\r\nX-Drop: secret\r\nUser-Agent: ua\r\nKeep-Alive: timeout=5\r\n" +
			"Proxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\nTE: trailers, deflate\r\nTrailer: X-T\r\n\r\n", pod: []string{plain}},
		{name: "forwarded by a gateway", request: "GET / HTTP/1.1\r\nHost: orders.example.com\r\nX-Forwarded-For: 203.0.113.7\r\n" +
			"X-Forwarded-For: 198.51.100.1, 10.0.0.1\r\nX-Forwarded-Host: shop.example.com\r\nX-Forwarded-Proto: https\r\nForwarded: for=1.2.3.4\r\n\r\n", pod: []string{plain}},
		{name: "empty X-Forwarded-For", request: "GET / HTTP/1.1\r\nHost: orders.shop\r\nX-Forwarded-For:\r\n\r\n", pod: []string{plain}},
		{name: "escaped path", request: "GET /a%20b/c%2Fd?x=%41&y= HTTP/1.1\r\nHost: orders.shop\r\n\r\n", pod: []string{plain}},
		{name: "empty query", request: "GET /a? HTTP/1.1\r\nHost: orders.shop\r\n\r\n", pod: []string{plain}},
		{name: "HTTP/1.0", request: "GET /old HTTP/1.0\r\nHost: orders.shop\r\n\r\n", pod: []string{plain}},
		{name: "HEAD", request: "HEAD / HTTP/1.1\r\nHost: orders.shop\r\n\r\n", pod: []string{"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"}},
		{name: "OPTIONS", request: "OPTIONS /o HTTP/1.1\r\nHost: orders.shop\r\n\r\n", pod: []string{"HTTP/1.1 204 No Content\r\nAllow: GET\r\n\r\n"}},
		{name: "TRACE", request: "TRACE /t HTTP/1.1\r\nHost: orders.shop\r\n\r\n", pod: []string{"HTTP/1.1 200 OK\r\nContent-Type: message/http\r\nContent-Length: 2\r\n\r\nok"}},
		{name: "hop-by-hop response fields", request: gateway, pod: []string{"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Internal\r\n" +
			"X-Internal: 1\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nUpgrade: h2c\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 2\r\n\r\nok"}},
		{name: "not found", request: gateway, pod: []string{"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"}},
		{name: "pod closes after answering", request: gateway, pod: []string{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"}, close: true},
		{name: "body until close", request: gateway, pod: []string{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", "all of it"}, pause: 5 * time.Millisecond, close: true},
		{name: "chunked with trailers", request: gateway, pod: []string{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n",
			"6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n"}, pause: 5 * time.Millisecond},
		{name: "unannounced trailer", request: gateway, pod: []string{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Late: 1\r\n\r\n"}},
		{name: "body arriving slowly", request: gateway, pod: []string{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nfirst", "later"}, pause: 20 * time.Millisecond},
		{name: "event stream", request: gateway, pod: []string{"HTTP/1.1 200 OK\r\nContent-Type: Text/Event-Stream; charset=utf-8\r\nContent-Length: 16\r\n\r\n", "data: one\n\n", "two\n\n"}, pause: 5 * time.Millisecond},
		{name: "early hints", request: gateway, pod: []string{"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", plain}, pause: 5 * time.Millisecond},
		{name: "held", request: gateway, pod: []string{plain}, held: true},
		{name: "body cut off", request: gateway, pod: []string{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"}, close: true},
	}
	// A streamed response without Content-Type gets one sniffed from its first write by Go's
	// server only if that write comes before the ReverseProxy's first flush, which is timing:
	// the streamed answers below all name their type.
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pod.set(c.pause, c.close, c.pod...)
			held = c.held
			want := roundTrip(t, viaProxy.Listener.Addr().String(), pod, c.request)
			got := roundTrip(t, viaLean.Listener.Addr().String(), pod, c.request)
			if want.err != "" {
				// The connection ends before the response does; how much of it got out first
				// depends on timing.
				assert.NotEmpty(t, got.err, "the ReverseProxy failed: %s", want.err)
				got.answers, want.answers, got.err, want.err = nil, nil, "", ""
			}
			assert.Equal(t, want, got)
		})
	}
}

func TestLeanTakesWhatReverseProxyPassesOnAsIs(t *testing.T) {
	http1 := endpoint{addr: "10.0.0.1:8080"}
	cases := []struct {
		name   string
		raw    string
		target endpoint
		want   bool
	}{
		{"GET", "GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n", http1, true},
		{"h2c pod", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", endpoint{addr: "10.0.0.1:8080", h2c: true}, false},
		{"POST", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na", http1, false},
		{"upgrade", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", http1, false},
		{"no Host", "GET / HTTP/1.0\r\n\r\n", http1, false},
		{"IPv6 zone", "GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]:80\r\n\r\n", http1, false},
		{"semicolon in query", "GET /?a=1;b=2 HTTP/1.1\r\nHost: x\r\n\r\n", http1, false},
		{"bad escape in query", "GET /?a=%zz HTTP/1.1\r\nHost: x\r\n\r\n", http1, false},
		{"escape at the end of the query", "GET /?a=%4 HTTP/1.1\r\nHost: x\r\n\r\n", http1, false},
		{"many Connection fields", "GET / HTTP/1.1\r\nHost: x\r\nConnection: a, b, c, d, e, f, g, h, i\r\n\r\n", http1, false},
		{"absolute form, valid host", "GET http://orders.shop/p HTTP/1.1\r\nHost: x\r\n\r\n", http1, true},
		{"absolute form, non-ASCII host", "GET http://ex%C3%A4mple/p HTTP/1.1\r\nHost: x\r\n\r\n", http1, false},
		{"absolute form, invalid UTF-8 host", "GET http://ex%FFample/p HTTP/1.1\r\nHost: x\r\n\r\n", http1, false},
		{"absolute form, quotes and brackets in the host", "GET http://a\"b<c>/p HTTP/1.1\r\nHost: x\r\n\r\n", http1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(c.raw)))
			require.NoError(t, err)
			if r.Body == nil || r.ContentLength == 0 {
				r.Body = http.NoBody // as the server hands it over
			}
			assert.Equal(t, c.want, lean(r, c.target))
		})
	}
	opaque := &http.Request{Method: http.MethodGet, ProtoMajor: 1, Host: "x", Header: http.Header{}, Body: http.NoBody,
		URL: &url.URL{Scheme: "http", Opaque: "//x/a"}}
	assert.False(t, lean(opaque, http1), "an opaque URL")
}

// TestInformationalKeepsTheFinalResponsesFields: a 1xx response passed on carries only its own
// fields, and the fields set for the final response before it (Connection: close, when the
// sidecar ends the connection) are still on the final response.
func TestInformationalKeepsTheFinalResponsesFields(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		m := &leanRequest{w: w, r: r}
		require.NoError(t, m.informational(http.StatusEarlyHints, textproto.MIMEHeader{"Link": {"</a.css>; rel=preload"}}))
		_, _ = io.WriteString(w, "final")
	}))
	t.Cleanup(srv.Close)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	raw, err := io.ReadAll(c) // the server closes the connection after the final response
	require.NoError(t, err)
	hints, final, ok := strings.Cut(string(raw), "\r\n\r\n")
	require.True(t, ok, "%q", raw)
	assert.Contains(t, hints, "HTTP/1.1 103 Early Hints")
	assert.Contains(t, hints, "Link: </a.css>; rel=preload")
	assert.NotContains(t, hints, "Connection: close", "the final response's field went out with the 103")
	assert.Contains(t, final, "HTTP/1.1 200 OK")
	assert.Contains(t, final, "Connection: close")
	assert.NotContains(t, final, "Link:", "the 103's field stayed for the final response")
}

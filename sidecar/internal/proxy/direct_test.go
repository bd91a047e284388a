package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDirectTakesOnlyBodilessRepeatableHTTP1(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		body   io.Reader
		header string
		h2     bool
		want   bool
	}{
		{name: "GET", method: http.MethodGet, want: true},
		{name: "HEAD", method: http.MethodHead, want: true},
		{name: "OPTIONS", method: http.MethodOptions, want: true},
		{name: "POST without body", method: http.MethodPost},
		{name: "DELETE", method: http.MethodDelete},
		{name: "GET with a body", method: http.MethodGet, body: strings.NewReader("x")},
		{name: "upgrade", method: http.MethodGet, header: "Upgrade"},
		{name: "expect", method: http.MethodGet, header: "Expect"},
		{name: "HTTP/2", method: http.MethodGet, h2: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://orders/", tc.body)
			if tc.header != "" {
				req.Header.Set(tc.header, "websocket")
			}
			if tc.h2 {
				req.ProtoMajor = 2
			}
			assert.Equal(t, tc.want, direct(req))
		})
	}
}

func newDirect(idleTimeout time.Duration) *directTransport {
	return &directTransport{dial: (&net.Dialer{}).DialContext, maxIdle: 4, idleTimeout: idleTimeout}
}

// countConns is an upstream that counts the connections it accepted.
func countConns(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &n
}

func directGet(t *testing.T, d *directTransport, ctx context.Context, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := d.RoundTrip(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp, string(b)
}

func TestDirectReusesAConnectionReadToTheEnd(t *testing.T) {
	srv, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length: chunked
		}
		fmt.Fprint(w, "ok ", r.URL.Path)
	}))
	d := newDirect(time.Minute)
	for _, path := range []string{"/a", "/chunked", "/b", "/chunked"} {
		resp, body := directGet(t, d, context.Background(), srv.URL+path)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "ok "+path, body)
	}
	assert.Equal(t, int32(1), conns.Load(), "one kept-alive connection for sequential requests")
}

func TestDirectDoesNotReuseWhatItMustNot(t *testing.T) {
	srv, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		fmt.Fprint(w, strings.Repeat("x", 64<<10))
	}))
	d := newDirect(time.Minute)
	directGet(t, d, context.Background(), srv.URL+"/close")
	directGet(t, d, context.Background(), srv.URL+"/a")
	assert.Equal(t, int32(2), conns.Load(), "the pod said Connection: close")

	// A body closed before its end leaves unread bytes on the connection.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/a", nil)
	resp, err := d.RoundTrip(req)
	require.NoError(t, err)
	_, _ = resp.Body.Read(make([]byte, 10))
	require.NoError(t, resp.Body.Close())
	directGet(t, d, context.Background(), srv.URL+"/a")
	assert.Equal(t, int32(3), conns.Load(), "a body not read to the end")
}

// rawPod is a pod written byte by byte: serve runs for every accepted connection (and closes
// it when it returns). It returns the pod's URL and the count of accepted connections.
func rawPod(t *testing.T, serve func(c net.Conn)) (string, *atomic.Int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String(), &accepted
}

// oneShot answers one request per connection and then closes it without saying so, like a pod
// whose keep-alive idle timeout ran out just as the next request was sent.
func oneShot(t *testing.T) (string, *atomic.Int32) {
	return rawPod(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
}

func TestDirectSendsAgainWhenAKeptAliveConnectionWasClosed(t *testing.T) {
	url, accepted := oneShot(t)
	d := newDirect(time.Minute)
	for range 3 {
		_, body := directGet(t, d, context.Background(), url)
		assert.Equal(t, "ok", body)
		time.Sleep(10 * time.Millisecond) // let the close arrive
	}
	assert.Equal(t, int32(3), accepted.Load())
}

func TestDirectDialErrorIsADialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	_, err = newDirect(time.Minute).RoundTrip(req)
	require.Error(t, err)
	assert.True(t, isDialError(err), "the connect retry needs a dial error: %v", err)
}

func TestDirectEndsWhenTheClientGoesAway(t *testing.T) {
	gone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // the pod sees the connection closed
		close(gone)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := newDirect(time.Minute).RoundTrip(req)
	assert.ErrorIs(t, err, context.Canceled)
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection to the pod was left open")
	}
}

func TestDirectPassesInformationalResponsesOn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		fmt.Fprint(w, "final")
	}))
	defer srv.Close()
	var got []int
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			got = append(got, code)
			assert.Equal(t, "</style.css>; rel=preload", h.Get("Link"))
			return nil
		}})
	resp, body := directGet(t, newDirect(time.Minute), ctx, srv.URL)
	assert.Equal(t, []int{http.StatusEarlyHints}, got)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "final", body)
}

func TestDirectClosesConnectionsIdleTooLong(t *testing.T) {
	var mu sync.Mutex
	var states []http.ConnState
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		mu.Lock()
		states = append(states, s)
		mu.Unlock()
	}
	srv.Start()
	defer srv.Close()
	d := newDirect(50 * time.Millisecond)
	directGet(t, d, context.Background(), srv.URL)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(states) > 0 && states[len(states)-1] == http.StateClosed
	}, 5*time.Second, 10*time.Millisecond, "the idle connection was never closed")
	d.mu.Lock()
	defer d.mu.Unlock()
	assert.Empty(t, d.idle)
	assert.Nil(t, d.sweep, "nothing idle: the sweep stops")
}

func TestDirectRefusesAnUnaskedProtocolSwitch(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	closed := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = http.ReadRequest(bufio.NewReader(c))
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		_, _ = c.Read(make([]byte, 1)) // returns when the sidecar closes the connection
		close(closed)
	}()
	req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
	_, err = newDirect(time.Minute).RoundTrip(req)
	assert.ErrorContains(t, err, "switched protocols")
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection was left open")
	}
}

// TestUnsolicitedBytesEndAnIdleConnection: a pod that answers a HEAD with a Content-Length and
// then, a moment later, sends more bytes on the idle connection must not have them read as the
// next request's response: the connection is closed and the next request gets a new one.
func TestUnsolicitedBytesEndAnIdleConnection(t *testing.T) {
	pod, conns := rawPod(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.Method == http.MethodHead {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n")
				time.Sleep(30 * time.Millisecond)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON")
				continue
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
		}
	})
	d := newDirect(time.Minute)
	url := pod + "/"
	head, err := http.NewRequest(http.MethodHead, url, nil)
	require.NoError(t, err)
	resp, err := d.RoundTrip(head)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	time.Sleep(100 * time.Millisecond) // the unsolicited bytes have arrived
	_, body := directGet(t, d, context.Background(), url+"mine")
	assert.Equal(t, "hello", body, "the next request got the bytes the pod sent unasked")
	assert.Equal(t, int32(2), conns.Load(), "the connection with unsolicited bytes was not reused")
}

// TestStatusBelow100IsAnError: a pod's status line below 100 is not an HTTP status: the exchange
// fails (502 to the client) instead of reaching WriteHeader, which panics on it.
func TestStatusBelow100IsAnError(t *testing.T) {
	pod, _ := rawPod(t, func(c net.Conn) {
		_, _ = http.ReadRequest(bufio.NewReader(c))
		_, _ = io.WriteString(c, "HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n")
	})
	req, err := http.NewRequest(http.MethodGet, pod+"/", nil)
	require.NoError(t, err)
	_, err = newDirect(time.Minute).RoundTrip(req)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "status 99")
}

// TestResponseHeadIsBounded: a pod whose response head never ends fails the exchange once the
// head passes the limit, instead of growing the sidecar's memory.
func TestResponseHeadIsBounded(t *testing.T) {
	pod, _ := rawPod(t, func(c net.Conn) {
		_, _ = http.ReadRequest(bufio.NewReader(c))
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
		for range 200 { // 200 kB of head, never ended
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	})
	d := newDirect(time.Minute)
	d.maxHead = 64 << 10
	req, err := http.NewRequest(http.MethodGet, pod+"/", nil)
	require.NoError(t, err)
	_, err = d.RoundTrip(req)
	require.ErrorIs(t, err, errHeadTooLarge)
}

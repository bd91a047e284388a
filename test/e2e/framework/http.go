package framework

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GatewayClient returns an HTTP client whose every connection goes to addr (a gateway pod's
// IP:port, or any host:port), whatever the URL says: the URL's host becomes the Host header, as
// it would for a client behind a real gateway. Without keepAlive every request uses a new
// connection, so the transport never retries a request on its own: "no client retries" holds.
func GatewayClient(addr string, keepAlive bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		},
		DisableKeepAlives:   !keepAlive,
		MaxIdleConns:        2000,
		MaxIdleConnsPerHost: 2000,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// ServiceURL is the URL a client of the gateway uses for a Service: http://name.ns[:port]/path.
func ServiceURL(ns, name string, port int, path string) string {
	host := name + "." + ns
	if port != 0 && port != 80 {
		host = fmt.Sprintf("%s:%d", host, port)
	}
	return "http://" + host + path
}

// Response is a finished request.
type Response struct {
	Status   int
	Body     string
	Header   http.Header
	Duration time.Duration
}

// Do sends one request and reads the whole body (bounded to 64 MiB).
func Do(ctx context.Context, c *http.Client, method, url string, body io.Reader) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, fmt.Errorf("building request %s %s: %w", method, url, err)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading body after %s: %w", method, url, time.Since(start), err)
	}
	return &Response{Status: resp.StatusCode, Body: string(b), Header: resp.Header, Duration: time.Since(start)}, nil
}

// Get is Do with GET and no body.
func Get(ctx context.Context, c *http.Client, url string) (*Response, error) {
	return Do(ctx, c, http.MethodGet, url, nil)
}

// BurstResult counts the outcomes of a burst.
type BurstResult struct {
	OK       int
	ByStatus map[int]int
	// Errors holds up to 10 distinct transport errors and unexpected bodies, with their count.
	Errors    map[string]int
	Durations []time.Duration
}

// Failures is the number of requests that did not answer 200 with the expected body.
func (b *BurstResult) Failures() int {
	n := 0
	for _, c := range b.Errors {
		n += c
	}
	return n
}

func (b *BurstResult) String() string {
	var errs []string
	for e, c := range b.Errors {
		errs = append(errs, fmt.Sprintf("%dx %s", c, e))
	}
	return fmt.Sprintf("ok=%d by-status=%v errors=[%s]", b.OK, b.ByStatus, strings.Join(errs, "; "))
}

// Burst sends n GET requests at once, each on a new connection, and checks that each answers 200
// with a body containing want.
func Burst(ctx context.Context, c *http.Client, url string, n int, want string) *BurstResult {
	res := &BurstResult{ByStatus: map[int]int{}, Errors: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			r, err := Get(ctx, c, url)
			mu.Lock()
			defer mu.Unlock()
			res.record(r, err, want)
		})
	}
	close(start)
	wg.Wait()
	return res
}

func (b *BurstResult) record(r *Response, err error, want string) {
	switch {
	case err != nil:
		b.addError(err.Error())
	case r.Status != http.StatusOK:
		b.ByStatus[r.Status]++
		b.addError(fmt.Sprintf("status %d: %.200s", r.Status, r.Body))
	case !strings.Contains(r.Body, want):
		b.ByStatus[r.Status]++
		b.addError(fmt.Sprintf("unexpected body %.200q", r.Body))
	default:
		b.ByStatus[r.Status]++
		b.OK++
		b.Durations = append(b.Durations, r.Duration)
	}
}

func (b *BurstResult) addError(e string) {
	if _, ok := b.Errors[e]; ok || len(b.Errors) < 10 {
		b.Errors[e]++
		return
	}
	b.Errors["(other errors)"]++
}

// Load sends requests from `workers` goroutines, each waiting `every` between its requests, until
// ctx ends; Stop returns the result. Connections are reused (keep-alive), as a real client does.
type Load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	res    *BurstResult
}

// StartLoad starts a steady load on url.
func StartLoad(ctx context.Context, c *http.Client, url string, workers int, every time.Duration, want string) *Load {
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{cancel: cancel, res: &BurstResult{ByStatus: map[int]int{}, Errors: map[string]int{}}}
	for range workers {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
				r, err := Get(rctx, c, url)
				rcancel()
				l.mu.Lock()
				l.res.record(r, err, want)
				l.mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(every):
				}
			}
		})
	}
	return l
}

// Snapshot returns the counts so far.
func (l *Load) Snapshot() (ok, failures int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res.OK, l.res.Failures()
}

// Stop ends the load, lets in-flight requests finish and returns the result.
func (l *Load) Stop() *BurstResult {
	l.cancel()
	l.wg.Wait()
	return l.res
}

// HeldFor reads how long the sidecar held a response from its Server-Timing header: the first
// metric with a dur= parameter (milliseconds). It returns 0 when there is none (the request did
// not go through a sidecar that held it).
func HeldFor(h http.Header) time.Duration {
	for _, v := range h.Values("Server-Timing") {
		for _, metric := range strings.Split(v, ",") {
			params := strings.Split(strings.TrimSpace(metric), ";")
			for _, p := range params[1:] {
				d, ok := strings.CutPrefix(strings.TrimSpace(p), "dur=")
				if !ok {
					continue
				}
				if ms, err := strconv.ParseFloat(d, 64); err == nil {
					return time.Duration(ms * float64(time.Millisecond))
				}
			}
		}
	}
	return 0
}

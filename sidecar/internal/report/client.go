package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/elasti-dev/elasti/pkg/messages"
	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/internal/perkey"
)

// Options configure a Client.
type Options struct {
	// OperatorURL is the elastiserver's base URL (https://host:port).
	OperatorURL string
	// HTTPClient sends the reports; it must carry the TLS configuration and a Timeout.
	HTTPClient *http.Client
	// Authorize adds the bearer token to a request (re-reading the token file).
	Authorize func(*http.Request) error
	// Waiting returns how many requests are held now for a namespace/name key.
	Waiting func(key string) int
	// RetryDuration is the first backoff after a failed report (doubling up to MaxRetryDuration).
	RetryDuration, MaxRetryDuration time.Duration
	// ResendInterval is how long to wait after a successful report before reporting again while
	// requests still wait.
	ResendInterval time.Duration
	// ActivityInterval bounds activity reports for forwarded proxy-mode requests per service.
	ActivityInterval time.Duration
	// Observe (may be nil) is told the result of every report.
	Observe func(key string, err error)
}

// Client reports incoming requests to the operator. Create it with New.
type Client struct {
	logger logr.Logger
	// retryDuration is the duration to wait before retrying the operator (doubled per failure up
	// to maxRetryDuration).
	retryDuration    time.Duration
	maxRetryDuration time.Duration
	resendInterval   time.Duration
	activityInterval time.Duration
	// services holds one *serviceReports per namespace/service.
	services sync.Map
	// loops runs at most one report loop per namespace/service.
	loops perkey.Loops
	// operatorURL is the URL of the operator.
	operatorURL string
	// incomingRequestEndpoint is the endpoint to send information about the incoming request.
	incomingRequestEndpoint string
	// client is the http client (with TLS and timeouts).
	client *http.Client

	authorize func(*http.Request) error
	waiting   func(key string) int
	observe   func(key string, err error)
	ctx       context.Context
}

// serviceReports is the reporting state of one service.
type serviceReports struct {
	ns, svc string
	// activity is set when a forwarded request asks for an activity report.
	activity atomic.Bool
	// lastSent is the UnixNano time of the last report attempt.
	lastSent atomic.Int64
	// forwarded counts the requests forwarded at once since the last report that carried the
	// count (RequestCount.Forwarded: the traffic trigger's measure).
	forwarded atomic.Int64
}

// New returns a client; its report loops stop when ctx is done.
func New(ctx context.Context, logger logr.Logger, o Options) *Client {
	return &Client{
		logger:                  logger,
		retryDuration:           o.RetryDuration,
		maxRetryDuration:        max(o.MaxRetryDuration, o.RetryDuration),
		resendInterval:          o.ResendInterval,
		activityInterval:        o.ActivityInterval,
		operatorURL:             strings.TrimSuffix(o.OperatorURL, "/"),
		incomingRequestEndpoint: stream.IncomingRequestPath,
		client:                  o.HTTPClient,
		authorize:               o.Authorize,
		waiting:                 o.Waiting,
		observe:                 o.Observe,
		ctx:                     ctx,
	}
}

func (c *Client) service(ns, svc string) *serviceReports {
	key := ns + "/" + svc
	if l, ok := c.services.Load(key); ok {
		return l.(*serviceReports)
	}
	l, _ := c.services.LoadOrStore(key, &serviceReports{ns: ns, svc: svc})
	return l.(*serviceReports)
}

// Forget drops the state of a service that left the stream.
func (c *Client) Forget(key string) { c.services.Delete(key) }

// Held reports that a request for ns/svc is held. It returns at once; the report is sent in
// the background unless one is already in flight for the service.
func (c *Client) Held(ns, svc string) { c.start(c.service(ns, svc)) }

// Activity counts a request for a proxy-mode service that was forwarded without holding and
// reports it: at most one report per ActivityInterval per service, each carrying how many
// requests were forwarded since the previous one. While requests keep being forwarded, the
// report loop sends one report per interval, so that every forwarded request is counted within an
// interval of being forwarded.
func (c *Client) Activity(ns, svc string) {
	l := c.service(ns, svc)
	l.forwarded.Add(1)
	last, now := l.lastSent.Load(), time.Now().UnixNano()
	// The compare-and-swap lets exactly one of many concurrent requests claim the report.
	if time.Duration(now-last) < c.activityInterval || !l.lastSent.CompareAndSwap(last, now) {
		return
	}
	l.activity.Store(true)
	c.start(l)
}

// start runs the service's report loop unless it runs already. The loop and its "more work?"
// check read the service's current state, not l: a service forgotten and seen again while a
// loop for it still runs gets a new state, which that loop must report.
func (c *Client) start(l *serviceReports) {
	key := l.ns + "/" + l.svc
	c.loops.Go(key, func() { c.loop(l.ns, l.svc) }, func() bool {
		cur := c.current(key)
		return c.ctx.Err() == nil && (c.waiting(key) > 0 || (cur != nil && cur.activity.Load()))
	})
}

// current returns the state of key, nil when it has none (never seen, or forgotten).
func (c *Client) current(key string) *serviceReports {
	if l, ok := c.services.Load(key); ok {
		return l.(*serviceReports)
	}
	return nil
}

// growthInterval is the shortest time between two reports of requests held for a service while
// their number grows: five a second, the elastiserver's default rate limit per sidecar and service.
const growthInterval = 200 * time.Millisecond

// maxActivityFailures: after this many activity reports in a row failed, the loop stops sending
// them; the requests counted so far go with the next report (a new forwarded request starts one).
const maxActivityFailures = 5

// loop reports for one service while requests wait or an activity report is pending, and
// returns when there is nothing left to report or the client stops.
func (c *Client) loop(ns, svc string) {
	key := ns + "/" + svc
	backoff := c.retryDuration
	activityFailures := 0
	for {
		n := c.waiting(key)
		l := c.current(key)
		if l == nil {
			if n == 0 {
				return // forgotten, and nothing waits
			}
			l = c.service(ns, svc) // forgotten while requests wait: they are still reported
		}
		activity := l.activity.Swap(false)
		if n == 0 && !activity {
			return
		}
		l.lastSent.Store(time.Now().UnixNano())
		// n == 0: an activity report (count 0), which marks the service active but never wakes it.
		// SentAt: every attempt says when it saw n requests waiting, so that the elastiserver can
		// ignore one that arrives after a deliberate scale to zero (a retry, a slow network).
		fwd := l.forwarded.Swap(0)
		err := c.send(messages.RequestCount{Count: n, Svc: l.svc, Namespace: l.ns, SentAt: time.Now(), Forwarded: fwd})
		if err != nil {
			l.forwarded.Add(fwd) // counted with the next report instead
		}
		if c.observe != nil {
			c.observe(key, err)
		}
		if c.ctx.Err() != nil {
			return
		}
		wait := c.resendInterval
		if err != nil {
			wait, backoff = max(backoff, retryAfter(err)), min(2*backoff, c.maxRetryDuration)
			c.logger.Error(err, "reporting held requests to the operator", "service", key, "waiting", n, "retryIn", wait)
		} else {
			backoff = c.retryDuration
		}
		if n == 0 {
			// An activity report. Requests forwarded after it are counted by the next one, sent an
			// interval later (or after the backoff when it failed); requests held meanwhile end
			// the pause at once.
			if err != nil {
				activityFailures++
			} else {
				activityFailures = 0
			}
			pause := c.activityInterval
			if err != nil {
				pause = max(pause, wait)
			}
			// Requests held meanwhile must be reported at once: they end the pause.
			if activityFailures >= maxActivityFailures || !c.sleepWhile(key, pause, func(waiting int) bool { return waiting == 0 }) {
				return
			}
			if l.forwarded.Load() > 0 {
				l.activity.Store(true)
			}
			continue
		}
		// Requests wait: report again after wait, or sooner when more are held than this report
		// said (a burst still arriving: the operator sizes the wake-up to it, spec.wakeBurst), at
		// most every growthInterval; after a failure only the backoff counts.
		sent := time.Now()
		if !c.sleepWhile(key, wait, func(waiting int) bool {
			return waiting > 0 && (err != nil || waiting <= n || time.Since(sent) < growthInterval)
		}) {
			return
		}
	}
}

// sleepWhile waits d, returning early once keepSleeping(requests waiting for key) says false;
// false when shutting down.
func (c *Client) sleepWhile(key string, d time.Duration, keepSleeping func(waiting int) bool) bool {
	const tick = 50 * time.Millisecond
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !keepSleeping(c.waiting(key)) {
			return true
		}
		select {
		case <-c.ctx.Done():
			return false
		case <-time.After(min(tick, time.Until(deadline))):
		}
	}
	return c.ctx.Err() == nil
}

// send POSTs one RequestCount.
func (c *Client) send(rc messages.RequestCount) error {
	body, err := json.Marshal(rc)
	if err != nil {
		return fmt.Errorf("encoding RequestCount: %w", err)
	}
	req, err := http.NewRequestWithContext(c.ctx, http.MethodPost, c.operatorURL+c.incomingRequestEndpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building RequestCount request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := c.authorize(req); err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("sending RequestCount: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return &statusError{status: resp.Status, msg: strings.TrimSpace(string(msg)), retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	}
	return nil
}

// statusError is a non-2xx answer; retryAfter is the operator's Retry-After (429, 503), if any.
type statusError struct {
	status, msg string
	retryAfter  time.Duration
}

func (e *statusError) Error() string {
	return fmt.Sprintf("operator answered RequestCount with %s: %s", e.status, e.msg)
}

// retryAfter is the delay the operator asked for, 0 when it did not.
func retryAfter(err error) time.Duration {
	var se *statusError
	if errors.As(err, &se) {
		return se.retryAfter
	}
	return 0
}

// parseRetryAfter reads a Retry-After in seconds (the operator never sends a date), capped at a
// minute so that a bad header cannot stall the reports.
func parseRetryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, time.Minute)
}

package report

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/pkg/messages"
	"github.com/elasti-dev/elasti/sidecar/stuboperator"
)

type fixture struct {
	op      *stuboperator.Operator
	client  *Client
	waiting atomic.Int32
	mu      sync.Mutex
	results []error
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, time.Hour)
}

// newFixtureWith is newFixture with the given ActivityInterval.
func newFixtureWith(t *testing.T, activityInterval time.Duration) *fixture {
	t.Helper()
	f := &fixture{op: stuboperator.Start("tok")}
	t.Cleanup(f.op.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.client = New(ctx, logr.Discard(), Options{
		OperatorURL: f.op.URL(),
		HTTPClient:  f.op.Server.Client(),
		Authorize: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer tok")
			return nil
		},
		Waiting:          func(string) int { return int(f.waiting.Load()) },
		RetryDuration:    10 * time.Millisecond,
		MaxRetryDuration: 40 * time.Millisecond,
		ResendInterval:   time.Hour,
		ActivityInterval: activityInterval,
		Observe: func(_ string, err error) {
			f.mu.Lock()
			f.results = append(f.results, err)
			f.mu.Unlock()
		},
	})
	return f
}

func (f *fixture) errors() (ok, failed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, err := range f.results {
		if err == nil {
			ok++
		} else {
			failed++
		}
	}
	return ok, failed
}

func TestHeldIsDeduplicated(t *testing.T) {
	f := newFixture(t)
	f.op.RequestCountDelay.Store(int64(200 * time.Millisecond))
	f.waiting.Store(50)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { f.client.Held("shop", "orders") })
	}
	wg.Wait()
	require.Eventually(t, func() bool { return len(f.op.RequestCounts()) == 1 }, 5*time.Second, 10*time.Millisecond)
	f.waiting.Store(0)
	assert.Equal(t, 1, f.op.MaxInFlight())
	got := f.op.RequestCounts()[0]
	assert.False(t, got.SentAt.IsZero(), "a report says when it was sent")
	got.SentAt = time.Time{}
	assert.Equal(t, messages.RequestCount{Count: 50, Svc: "orders", Namespace: "shop"}, got)
}

// TestEveryAttemptSaysWhenItWasSent: a report retried after failures carries the time of its own
// attempt, not of the first one, so the elastiserver can tell a late report from a fresh one.
func TestEveryAttemptSaysWhenItWasSent(t *testing.T) {
	f := newFixture(t)
	f.op.RequestCountStatus.Store(http.StatusServiceUnavailable)
	f.waiting.Store(1)
	start := time.Now()
	f.client.Held("shop", "orders")
	require.Eventually(t, func() bool { _, failed := f.errors(); return failed >= 3 }, 5*time.Second, 5*time.Millisecond)
	f.waiting.Store(0)
	end := time.Now()
	reports := f.op.RequestCounts()
	require.GreaterOrEqual(t, len(reports), 3)
	for i, rc := range reports {
		assert.False(t, rc.SentAt.Before(start) || rc.SentAt.After(end), "report %d sent at %s, outside the test", i, rc.SentAt)
		if i > 0 {
			assert.True(t, rc.SentAt.After(reports[i-1].SentAt), "retry %d carries the time of an earlier attempt", i)
		}
	}
}

func TestHeldRetriesWhileRequestsWait(t *testing.T) {
	f := newFixture(t)
	f.op.RequestCountStatus.Store(http.StatusServiceUnavailable)
	f.waiting.Store(1)
	f.client.Held("shop", "orders")
	require.Eventually(t, func() bool { _, failed := f.errors(); return failed >= 3 }, 5*time.Second, 5*time.Millisecond)
	f.op.RequestCountStatus.Store(http.StatusOK)
	require.Eventually(t, func() bool { ok, _ := f.errors(); return ok == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, 1, f.op.MaxInFlight())

	// Nothing waits any more: the loop ends, and a new held request starts a new report.
	f.waiting.Store(0)
	require.Eventually(t, func() bool { return !f.client.loops.Running("shop/orders") }, 5*time.Second, 5*time.Millisecond)
	before := len(f.op.RequestCounts())
	f.waiting.Store(1)
	f.client.Held("shop", "orders")
	require.Eventually(t, func() bool { return len(f.op.RequestCounts()) == before+1 }, 5*time.Second, 5*time.Millisecond)
	f.waiting.Store(0)
}

// TestGrowingBurstIsReportedAgain: while requests wait, a report is sent again as soon as more
// are held than the last one said (at most every growthInterval), not only every ResendInterval;
// the same or fewer waiting send nothing before ResendInterval.
func TestGrowingBurstIsReportedAgain(t *testing.T) {
	f := newFixture(t) // ResendInterval: an hour
	f.waiting.Store(5)
	f.client.Held("shop", "orders")
	require.Eventually(t, func() bool { return len(f.op.RequestCounts()) == 1 }, 5*time.Second, 5*time.Millisecond)
	f.waiting.Store(40)
	require.Eventually(t, func() bool { return len(f.op.RequestCounts()) == 2 }, 5*time.Second, 5*time.Millisecond)
	f.waiting.Store(12) // fewer: nothing to add
	time.Sleep(3 * growthInterval)
	f.waiting.Store(0)
	reports := f.op.RequestCounts()
	require.Len(t, reports, 2, "reports: %+v", reports)
	assert.Equal(t, []int{5, 40}, []int{reports[0].Count, reports[1].Count})
	assert.GreaterOrEqual(t, reports[1].SentAt.Sub(reports[0].SentAt), growthInterval, "growth reports are spaced")
}

func TestActivityIsRateLimited(t *testing.T) {
	f := newFixture(t)
	for range 20 {
		f.client.Activity("shop", "orders")
	}
	require.Eventually(t, func() bool { ok, _ := f.errors(); return ok == 1 }, 5*time.Second, 5*time.Millisecond)
	for range 20 {
		f.client.Activity("shop", "orders")
	}
	time.Sleep(50 * time.Millisecond) // give a wrongly started loop the chance to send
	assert.Len(t, f.op.RequestCounts(), 1, "a second activity report within the interval")
	assert.Equal(t, 0, f.op.RequestCounts()[0].Count, "an activity report: count 0, nothing waits")
}

func TestRetryAfterIsHonoured(t *testing.T) {
	assert.Equal(t, 2*time.Second, parseRetryAfter("2"))
	assert.Equal(t, time.Minute, parseRetryAfter("3600"))
	assert.Zero(t, parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"))
	assert.Zero(t, parseRetryAfter(""))
	err := error(&statusError{status: "429 Too Many Requests", retryAfter: time.Second})
	assert.Equal(t, time.Second, retryAfter(fmt.Errorf("wrapped: %w", err)))
	assert.Zero(t, retryAfter(io.EOF))
}

func TestReportBody(t *testing.T) {
	f := newFixture(t)
	f.waiting.Store(3)
	f.client.Held("shop", "orders")
	require.Eventually(t, func() bool { return len(f.op.RequestCounts()) >= 1 }, 5*time.Second, 5*time.Millisecond)
	rc := f.op.RequestCounts()[0]
	assert.Equal(t, "shop", rc.Namespace)
	assert.Equal(t, "orders", rc.Svc)
	assert.Equal(t, 3, rc.Count, "the count is how many requests wait when the report is sent")
}

// TestLoopEndsWhenNothingWaits: once the requests stopped waiting the loop hands back the
// service, and the next held request starts a new report at once (not after ResendInterval).
func TestLoopEndsWhenNothingWaits(t *testing.T) {
	f := newFixture(t)
	f.waiting.Store(1)
	f.client.Held("shop", "orders")
	require.Eventually(t, func() bool { return len(f.op.RequestCounts()) == 1 }, 5*time.Second, 5*time.Millisecond)
	f.waiting.Store(0)
	require.Eventually(t, func() bool { return !f.client.loops.Running("shop/orders") }, 5*time.Second, 5*time.Millisecond)
	f.waiting.Store(1)
	f.client.Held("shop", "orders")
	require.Eventually(t, func() bool { return len(f.op.RequestCounts()) == 2 }, 5*time.Second, 5*time.Millisecond)
}

// TestServicesAreIndependent: a report in flight for one service does not hold back another's.
func TestServicesAreIndependent(t *testing.T) {
	f := newFixture(t)
	f.op.RequestCountDelay.Store(int64(200 * time.Millisecond))
	f.waiting.Store(1)
	f.client.Held("shop", "orders")
	f.client.Held("shop", "cart")
	f.client.Held("shop", "orders")
	require.Eventually(t, func() bool { return len(f.op.RequestCounts()) >= 2 }, 5*time.Second, 5*time.Millisecond)
	got := map[string]bool{}
	for _, rc := range f.op.RequestCounts() {
		got[rc.Key()] = true
	}
	assert.Equal(t, map[string]bool{"shop/orders": true, "shop/cart": true}, got)
	assert.Equal(t, 2, f.op.MaxInFlight(), "one report in flight per service, both at once")
}

func TestFailedAnswersAreErrors(t *testing.T) {
	f := newFixture(t)
	f.op.RequestCountStatus.Store(http.StatusServiceUnavailable)
	f.waiting.Store(1)
	f.client.Held("shop", "orders")
	require.Eventually(t, func() bool { _, failed := f.errors(); return failed >= 1 }, 5*time.Second, 5*time.Millisecond)
	f.mu.Lock()
	err := f.results[0]
	f.mu.Unlock()
	assert.ErrorContains(t, err, "503")
}

func TestAuthorizeFailureIsReported(t *testing.T) {
	f := newFixture(t)
	f.client.authorize = func(*http.Request) error { return fmt.Errorf("reading the token: %w", io.ErrUnexpectedEOF) }
	f.waiting.Store(1)
	f.client.Held("shop", "orders")
	require.Eventually(t, func() bool { _, failed := f.errors(); return failed >= 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Empty(t, f.op.RequestCounts(), "nothing is sent without a token")
}

// TestStopsWithContext: a loop that waits for its next attempt ends when the client's context
// ends, and hands back the service.
func TestStopsWithContext(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	f.client.ctx = ctx
	f.waiting.Store(1)
	f.client.Held("shop", "orders")
	require.Eventually(t, func() bool { return len(f.op.RequestCounts()) == 1 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	require.Eventually(t, func() bool { return !f.client.loops.Running("shop/orders") }, 5*time.Second, 5*time.Millisecond)
}

func TestForgetDropsTheServiceState(t *testing.T) {
	f := newFixtureWith(t, 20*time.Millisecond)
	f.client.Activity("shop", "orders")
	require.Eventually(t, func() bool { ok, _ := f.errors(); return ok == 1 }, 5*time.Second, 5*time.Millisecond)
	f.client.Forget("shop/orders")
	_, kept := f.client.services.Load("shop/orders")
	assert.False(t, kept)
	f.client.Activity("shop", "orders")
	require.Eventually(t, func() bool { ok, _ := f.errors(); return ok == 2 }, 5*time.Second, 5*time.Millisecond,
		"a forgotten service starts afresh: its activity interval is not remembered")
}

// forwardedSum adds RequestCount.Forwarded over the reports received so far.
func (f *fixture) forwardedSum() (sum int64, reports int) {
	for _, rc := range f.op.RequestCounts() {
		sum += rc.Forwarded
		reports++
	}
	return sum, reports
}

// TestEveryForwardedRequestIsCounted: requests forwarded in bursts, some right after a report,
// are all counted, in reports at most one per interval, and the loop ends once they stop.
func TestEveryForwardedRequestIsCounted(t *testing.T) {
	const interval = 30 * time.Millisecond
	f := newFixtureWith(t, interval)
	start := time.Now()
	total := 0
	for burst := range 10 {
		for range burst + 1 {
			f.client.Activity("shop", "orders")
			total++
		}
		time.Sleep(interval / 3)
	}
	elapsed := time.Since(start)
	require.Eventually(t, func() bool { sum, _ := f.forwardedSum(); return sum == int64(total) }, 5*time.Second, 5*time.Millisecond,
		"every forwarded request is counted, including those after the last report")
	require.Eventually(t, func() bool { return !f.client.loops.Running("shop/orders") }, 5*time.Second, 5*time.Millisecond,
		"the loop ends when nothing more is forwarded")
	_, reports := f.forwardedSum()
	assert.LessOrEqual(t, reports, int(elapsed/interval)+3, "at most one report per interval")
	for _, rc := range f.op.RequestCounts() {
		assert.Zero(t, rc.Count, "forwarded requests never wake anything")
	}
}

// TestForwardedCountSurvivesAFailedReport: a report the operator refused is not lost: its count
// goes with the next report.
func TestForwardedCountSurvivesAFailedReport(t *testing.T) {
	f := newFixtureWith(t, 20*time.Millisecond)
	f.op.RequestCountStatus.Store(http.StatusServiceUnavailable)
	for range 7 {
		f.client.Activity("shop", "orders")
	}
	require.Eventually(t, func() bool { _, failed := f.errors(); return failed >= 1 }, 5*time.Second, 5*time.Millisecond)
	f.op.RequestCountStatus.Store(http.StatusOK)
	f.client.Activity("shop", "orders")
	require.Eventually(t, func() bool { ok, _ := f.errors(); return ok >= 1 }, 5*time.Second, 5*time.Millisecond)
	var accepted int64
	require.Eventually(t, func() bool {
		// The stub records refused reports too: only the count of the last one, accepted, is new.
		rcs := f.op.RequestCounts()
		accepted = rcs[len(rcs)-1].Forwarded
		return !f.client.loops.Running("shop/orders")
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, int64(8), accepted, "the refused reports' requests went with the accepted one")
}

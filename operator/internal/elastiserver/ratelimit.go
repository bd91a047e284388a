package elastiserver

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

const (
	// maxLimiters bounds the limiter table (callers × services); idle entries go first.
	maxLimiters = 10000
	// limiterIdle: an entry unused this long is dropped (it would be full again anyway).
	limiterIdle = time.Minute
)

// limiter is a token bucket per caller pod and service, so one sidecar flooding one service
// cannot keep the operator busy, while every other caller and service is unaffected.
type limiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

func newLimiter(limit rate.Limit, burst int, now func() time.Time) *limiter {
	return &limiter{limit: limit, burst: burst, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for key; when none is left it returns false and how long until one is.
func (l *limiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxLimiters {
			l.evict(now)
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.lastSeen = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// evict drops idle buckets, then arbitrary ones down to 3/4 of the bound.
func (l *limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.lastSeen) > limiterIdle {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < maxLimiters*3/4 {
			break
		}
		delete(l.buckets, k)
	}
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

package traffic

import (
	"context"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Meter turns the replicas' totals into one count per service that only grows, and measures
// request rates from it. The leader uses it; its methods are safe for concurrent use.
type Meter struct {
	// Reader lists the traffic Leases (the API server: they are not cached).
	Reader client.Reader
	// Writer, when set, deletes the Leases of replicas gone for an hour (checked every ten minutes).
	Writer client.Writer
	// Namespace holds the Leases.
	Namespace string
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu sync.Mutex
	// started is the time of the first Look: totals counted before it are not new.
	started time.Time
	// collected is when stale Leases were last collected.
	collected time.Time
	// seen is every Lease's totals at the last Look.
	seen map[string]map[string]Total
	// count is each service's count of forwarded requests since this Meter started.
	count map[string]int64
	// series holds samples of count for the tracked services (those under observation).
	series map[string][]sample
}

type sample struct {
	at    time.Time
	count int64
}

// maxSeries bounds a tracked service's samples (an hour of looks a second apart).
const maxSeries = 3600

// Look reads every replica's Lease once and adds what each counted since the last Look. A
// tracked service gets a sample of its count.
func (m *Meter) Look(ctx context.Context) error {
	leases, err := Leases(ctx, m.Reader, m.Namespace)
	if err != nil && leases == nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.seen == nil {
		m.started = now
		m.seen, m.count = map[string]map[string]Total{}, map[string]int64{}
	}
	if m.series == nil {
		m.series = map[string][]sample{}
	}
	for name, totals := range leases {
		before := m.seen[name]
		for key, t := range totals {
			m.count[key] += m.added(before, key, t)
		}
	}
	for name := range m.seen {
		if _, ok := leases[name]; !ok {
			delete(m.seen, name)
		}
	}
	for name, totals := range leases {
		m.seen[name] = totals
	}
	if m.Writer != nil && now.Sub(m.collected) >= 10*time.Minute {
		m.collected = now
		if _, cerr := CollectStale(ctx, m.Reader, m.Writer, m.Namespace, time.Hour, now); cerr != nil && err == nil {
			err = cerr
		}
	}
	for key, s := range m.series {
		s = append(s, sample{at: now, count: m.count[key]})
		if len(s) > maxSeries {
			s = s[len(s)-maxSeries:]
		}
		m.series[key] = s
	}
	return err
}

// added is how many requests total t of a Lease adds to what before (the same Lease at the last
// Look) held for key. A count that restarted (a new Since, or smaller) is new as a whole; a count
// first seen is new if it started after this Meter's first Look, and a baseline otherwise.
func (m *Meter) added(before map[string]Total, key string, t Total) int64 {
	p, ok := before[key]
	switch {
	case ok && p.Since.Equal(t.Since) && t.Count >= p.Count:
		return t.Count - p.Count
	case ok:
		return t.Count
	case t.Since.After(m.started):
		return t.Count
	default:
		return 0
	}
}

// Track starts sampling key (an observation starts); the first sample is its count now.
func (m *Meter) Track(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.series == nil {
		m.series = map[string][]sample{}
	}
	if _, ok := m.series[key]; !ok {
		m.series[key] = []sample{{at: m.now(), count: m.count[key]}}
	}
}

// Untrack stops sampling key (its observation ended).
func (m *Meter) Untrack(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.series, key)
}

// Rate returns key's requests per second from since (or window ago, whichever is later) to the
// last Look, measured over at least a second. It is 0 for a key that is not tracked.
func (m *Meter) Rate(key string, since time.Time, window time.Duration) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.series[key]
	if len(s) == 0 {
		return 0
	}
	end := s[len(s)-1]
	from := end.at.Add(-window)
	if since.After(from) {
		from = since
	}
	base := s[0]
	for _, x := range s {
		if x.at.After(from) {
			break
		}
		base = x
	}
	elapsed := end.at.Sub(base.at)
	if elapsed < time.Second {
		elapsed = time.Second
	}
	return float64(end.count-base.count) / elapsed.Seconds()
}

// Count returns key's count of forwarded requests since the Meter started.
func (m *Meter) Count(key string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.count[key]
}

func (m *Meter) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

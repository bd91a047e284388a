package elastiserver

import (
	"sync"
	"time"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

const (
	// burstWindow is how long a sidecar's report of held requests counts towards a burst's size.
	// A sidecar reports again within a fifth of a second while the number it holds grows, and every
	// few seconds while requests still wait (the sidecar's --report-resend), so a report older than
	// this describes requests already released or reported again.
	burstWindow = 3 * time.Second
	// burstRaiseWindow is how long after a scale from zero a burst still arriving may raise the
	// target further (ElastiService spec.wakeBurst). Later, held requests mean pods that do not
	// answer, which more replicas of the same would not fix, and an HPA or KEDA owns the count.
	burstRaiseWindow = 2 * time.Minute
	// burstSweepEvery bounds how often the whole table is swept of services no longer reporting.
	burstSweepEvery = 30 * time.Second
)

// heldReport is a sidecar's last report of the requests it holds for a service.
type heldReport struct {
	count int
	at    time.Time
}

// bursts sums, per ElastiService, the requests the sidecars hold at once: the last count each
// sidecar pod reported within burstWindow. It also remembers when this replica scaled a target
// from zero, so that reports arriving before status.lastScaledUpTime reaches the cache may still
// raise it. Each operator replica sees only the reports sent to it; a sidecar keeps its connection
// to one replica, so a burst is split over replicas only when its sidecars are, and each replica
// then sizes from its share (scale-ups only ever raise: the largest share wins).
type bursts struct {
	mu        sync.Mutex
	held      map[string]map[string]heldReport // ElastiService key → sidecar pod → report
	woke      map[string]time.Time             // ElastiService key → scale from zero by this replica
	lastSweep time.Time
}

func newBursts() *bursts {
	return &bursts{held: map[string]map[string]heldReport{}, woke: map[string]time.Time{}}
}

// observe records that pod holds count requests for key at now, and returns the sum over the
// sidecars that reported for key within burstWindow.
func (b *bursts) observe(key, pod string, count int, now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	pods := b.held[key]
	if pods == nil {
		pods = map[string]heldReport{}
		b.held[key] = pods
	}
	pods[pod] = heldReport{count: count, at: now}
	sum := 0
	for p, r := range pods {
		if now.Sub(r.at) > burstWindow {
			delete(pods, p)
			continue
		}
		sum += r.count
	}
	return sum
}

// wokeUp records that this replica scaled key's target from zero at now.
func (b *bursts) wokeUp(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.woke[key] = now
}

// raising tells whether a burst for es may still raise its target at now: within
// burstRaiseWindow of the last scale from zero, by this replica or (status.lastScaledUpTime) by
// any.
func (b *bursts) raising(key string, es *v1alpha1.ElastiService, now time.Time) bool {
	b.mu.Lock()
	woke, ok := b.woke[key]
	b.mu.Unlock()
	if ok && now.Sub(woke) <= burstRaiseWindow {
		return true
	}
	up := es.Status.LastScaledUpTime
	// lastScaledUpTime is truncated to the second: a second more covers that.
	return up != nil && now.Sub(up.Time) <= burstRaiseWindow+time.Second
}

// sweep drops services whose reports are all older than burstWindow and wake-ups older than
// burstRaiseWindow, at most every burstSweepEvery. b.mu is held.
func (b *bursts) sweep(now time.Time) {
	if now.Sub(b.lastSweep) < burstSweepEvery {
		return
	}
	b.lastSweep = now
	for key, pods := range b.held {
		for p, r := range pods {
			if now.Sub(r.at) > burstWindow {
				delete(pods, p)
			}
		}
		if len(pods) == 0 {
			delete(b.held, key)
		}
	}
	for key, t := range b.woke {
		if now.Sub(t) > burstRaiseWindow {
			delete(b.woke, key)
		}
	}
}

package controller

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Tracker is the in-memory state the scale-down loop shares with the reconciler. Both run only on
// the leader, in the same process; a new leader starts with an empty Tracker, which is safe: no
// scale-down in progress (the reconciler returns a half-switched Service to serve mode) and the
// cooldown restarts from the moment it became leader.
type Tracker struct {
	mu       sync.Mutex
	draining map[types.NamespacedName]time.Time
	triggers map[types.NamespacedName]triggerState
	blocked  map[types.NamespacedName]blockedState
	traffic  map[types.NamespacedName]trafficState
}

// trafficState is what the traffic trigger knows of one service (trafficloop.go).
type trafficState struct {
	// ObservingSince: an observation runs since then (zero: none runs).
	ObservingSince time.Time
	// LastActive: the traffic trigger last saw the service active then.
	LastActive time.Time
	// Rate is the last rate measured during an observation, as status shows it ("" before one).
	Rate string
	// Next is when the next observation is due (zero when none is planned).
	Next time.Time
	// OthersIdle: at the last poll, every other trigger said idle.
	OthersIdle bool
}

// observing reports whether an observation runs.
func (s trafficState) observing() bool { return !s.ObservingSince.IsZero() }

// triggerState is the result of the last trigger evaluation.
type triggerState struct {
	Healthy bool
	Message string
}

// blockedState says why the last scale-down decision could not be carried out.
type blockedState struct {
	Reason, Message string
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{
		draining: map[types.NamespacedName]time.Time{},
		triggers: map[types.NamespacedName]triggerState{},
		blocked:  map[types.NamespacedName]blockedState{},
		traffic:  map[types.NamespacedName]trafficState{},
	}
}

// Traffic returns the traffic trigger's state of key, false when there is none.
func (t *Tracker) Traffic(key types.NamespacedName) (trafficState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.traffic[key]
	return s, ok
}

// SetTraffic records the traffic trigger's state of key; it returns true when what status shows
// of it changed (the observation, the rate, the last activity or the next observation).
func (t *Tracker) SetTraffic(key types.NamespacedName, s trafficState) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.traffic[key]
	t.traffic[key] = s
	return !ok || !old.ObservingSince.Equal(s.ObservingSince) || !old.LastActive.Equal(s.LastActive) ||
		old.Rate != s.Rate || !old.Next.Equal(s.Next)
}

// Observing returns the keys of the services under observation.
func (t *Tracker) Observing() []types.NamespacedName {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []types.NamespacedName
	for k, s := range t.traffic {
		if s.observing() {
			out = append(out, k)
		}
	}
	return out
}

// StartDrain marks a scale-down of key, decided at, as in progress: the reconciler keeps the
// Service in proxy mode while it is.
func (t *Tracker) StartDrain(key types.NamespacedName, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.draining[key] = at
}

// EndDrain ends a scale-down, done or cancelled.
func (t *Tracker) EndDrain(key types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.draining, key)
}

// Draining reports whether a scale-down of key is in progress.
func (t *Tracker) Draining(key types.NamespacedName) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.draining[key]
	return ok
}

// SetTriggers records the outcome of an evaluation; it returns true when it changed.
func (t *Tracker) SetTriggers(key types.NamespacedName, s triggerState) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.triggers[key]
	t.triggers[key] = s
	return !ok || old != s
}

// Triggers returns the last evaluation's outcome, false when none happened yet.
func (t *Tracker) Triggers(key types.NamespacedName) (triggerState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.triggers[key]
	return s, ok
}

// SetBlocked records why a scale-down could not proceed (reason "" clears it); it returns true
// when it changed.
func (t *Tracker) SetBlocked(key types.NamespacedName, s blockedState) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.blocked[key]
	if s.Reason == "" {
		delete(t.blocked, key)
	} else {
		t.blocked[key] = s
	}
	return old != s
}

// Blocked returns why the last scale-down could not proceed, if it could not.
func (t *Tracker) Blocked(key types.NamespacedName) (blockedState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.blocked[key]
	return s, ok
}

// Forget drops everything known about key (the ElastiService is gone).
func (t *Tracker) Forget(key types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.draining, key)
	delete(t.triggers, key)
	delete(t.blocked, key)
	delete(t.traffic, key)
}

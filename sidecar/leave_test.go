package sidecar

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestLeaveEndpoints: the listeners keep accepting for the minimum delay, then until no request
// has come for the quiet period, never longer than the maximum.
func TestLeaveEndpoints(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const minDelay, quiet, maxDelay = 5 * time.Second, time.Second, 15 * time.Second
	tests := []struct {
		name string
		// requests are the times, after SIGTERM, at which requests arrive.
		requests []time.Duration
		want     time.Duration
	}{
		{"no request: the minimum", nil, 5 * time.Second},
		{"requests only early: the minimum", []time.Duration{time.Second, 3 * time.Second}, 5 * time.Second},
		{"a request just before the minimum: quiet after it", []time.Duration{4600 * time.Millisecond}, 5600 * time.Millisecond},
		{"requests keep coming a while: quiet after the last", []time.Duration{5 * time.Second, 6 * time.Second, 6800 * time.Millisecond}, 7800 * time.Millisecond},
		{"a request after a quiet second comes too late", []time.Duration{5 * time.Second, 6 * time.Second, 7500 * time.Millisecond}, 7 * time.Second},
		{"requests never stop: the maximum", everyHalfSecond(20 * time.Second), 15 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			last := func() time.Time {
				l := t0.Add(-time.Hour) // long before SIGTERM
				for _, r := range tt.requests {
					if at := t0.Add(r); !at.After(now) {
						l = at
					}
				}
				return l
			}
			sleeps := 0
			sleep := func(d time.Duration) {
				sleeps++
				now = now.Add(d)
			}
			got := leaveEndpoints(t0, minDelay, quiet, maxDelay, last, func() time.Time { return now }, sleep)
			assert.Equal(t, tt.want, got)
			assert.Less(t, sleeps, 100, "waits in a few steps, not a busy loop")
		})
	}
}

func everyHalfSecond(until time.Duration) []time.Duration {
	var out []time.Duration
	for d := time.Duration(0); d < until; d += 500 * time.Millisecond {
		out = append(out, d)
	}
	return out
}

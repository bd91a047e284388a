package traffic

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	const cooldown = time.Minute
	base := Input{Now: t0, Cooldown: cooldown, OthersIdle: true, Serving: true, SidecarsReady: true}
	with := func(f func(*Input)) Input { in := base; f(&in); return in }
	tests := []struct {
		name     string
		in       Input
		want     Action
		wantNext time.Time
		reason   string
	}{
		{"active 10s ago: wait for the cooldown", with(func(in *Input) { in.LastActive = t0.Add(-10 * time.Second) }),
			Wait, t0.Add(50 * time.Second), "less than the cooldown"},
		{"quiet for the cooldown: observe", with(func(in *Input) { in.LastActive = t0.Add(-cooldown) }), Observe, time.Time{}, "counting requests"},
		{"another trigger active: wait a cooldown", with(func(in *Input) { in.LastActive = t0.Add(-time.Hour); in.OthersIdle = false }),
			Wait, t0.Add(cooldown), "another trigger"},
		{"no ready pod: no observation", with(func(in *Input) { in.LastActive = t0.Add(-time.Hour); in.Serving = false }), Wait, time.Time{}, "no ready pod"},
		{"no sidecar: no observation", with(func(in *Input) { in.LastActive = t0.Add(-time.Hour); in.SidecarsReady = false }), Wait, time.Time{}, "no ready resolver sidecar"},
		{"cooldown 0: observe at once", with(func(in *Input) { in.Cooldown = 0; in.LastActive = t0 }), Observe, time.Time{}, ""},

		{"observing, one request (threshold 0): active", with(func(in *Input) { in.ObservingSince = t0.Add(-2 * time.Second); in.Rate = 0.5 }), Active, time.Time{}, "0.5 requests/s observed, above the threshold of 0"},
		{"observing, nothing yet: keep observing", with(func(in *Input) { in.ObservingSince = t0.Add(-2 * time.Second) }), KeepObserving, time.Time{}, "at or below"},
		{"observing, below a threshold: keep observing", with(func(in *Input) { in.ObservingSince = t0.Add(-30 * time.Second); in.Threshold = 2; in.Rate = 1.5 }), KeepObserving, time.Time{}, "1.5 requests/s"},
		{"observing, at the threshold: still idle", with(func(in *Input) { in.ObservingSince = t0.Add(-30 * time.Second); in.Threshold = 2; in.Rate = 2 }), KeepObserving, time.Time{}, ""},
		{"observing, above a threshold: active", with(func(in *Input) { in.ObservingSince = t0.Add(-time.Second); in.Threshold = 2; in.Rate = 100 }), Active, time.Time{}, "100 requests/s"},
		{"observed idle for the cooldown: scale to zero", with(func(in *Input) { in.ObservingSince = t0.Add(-cooldown) }), ScaleToZero, time.Time{}, "for the cooldown period"},
		{"below the threshold for the cooldown: scale to zero", with(func(in *Input) { in.ObservingSince = t0.Add(-2 * cooldown); in.Threshold = 1; in.Rate = 0.2 }), ScaleToZero, time.Time{}, "0.2 requests/s (threshold 1)"},
		{"observing, another trigger active", with(func(in *Input) { in.ObservingSince = t0.Add(-cooldown); in.OthersIdle = false }), Active, time.Time{}, "another trigger"},
		{"observing, the pods went: stop", with(func(in *Input) { in.ObservingSince = t0.Add(-time.Second); in.Serving = false }), Stop, time.Time{}, "no ready pod"},
		{"observing, the sidecars went: stop", with(func(in *Input) { in.ObservingSince = t0.Add(-time.Second); in.SidecarsReady = false }), Stop, time.Time{}, "no ready resolver sidecar"},
		{"traffic wins over the elapsed cooldown", with(func(in *Input) { in.ObservingSince = t0.Add(-2 * cooldown); in.Rate = 3 }), Active, time.Time{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.in)
			assert.Equal(t, tt.want.String(), d.Action.String())
			assert.Equal(t, tt.wantNext, d.Next)
			assert.Contains(t, d.Reason, tt.reason)
		})
	}
}

func TestFormatRate(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 0.25: "0.25", 1.0 / 3: "0.333", 12.345: "12.3", 99.94: "99.9", 1500.4: "1500"} {
		assert.Equal(t, want, FormatRate(in), "%v", in)
	}
}

package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Target names as evaluate gives them for goodReport's options.
const (
	tOverheadP50 = "cold-start overhead p50 (1 service)"
	tOverheadP99 = "cold-start overhead p99 (1 service)"
	tFleetP95    = "cold-start total p95 (25 services at once)"
	tForward     = "sidecar forward path p99 vs direct"
	tIdleRSS     = "sidecar idle RSS"
	tIngress     = "cold-start overhead p50 through Traefik (external host)"
)

// woken is a successful wake-up: the app ready after readyMs, the answer overheadMs later,
// its readiness time from source (ReadinessLog, ReadinessPodReady or "" for none).
func woken(readyMs, overheadMs float64, source string) ColdSample {
	d := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	s := ColdSample{Status: 200, Pod: "app-1", ReadinessSource: source, total: d(readyMs + overheadMs), held: d(readyMs + overheadMs)}
	if source != "" {
		s.ready, s.overhead = d(readyMs), d(overheadMs)
	}
	return s
}

// failedWake is a wake-up whose request failed.
func failedWake() ColdSample { return ColdSample{Error: "context deadline exceeded"} }

func times(n int, s ColdSample) []ColdSample {
	out := make([]ColdSample, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// latencies is n forward-path latencies of ms each.
func latencies(n int, ms float64) Dist {
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = time.Duration(ms * float64(time.Millisecond))
	}
	return Summarize(ds)
}

// goodReport is a run in which every sample is present, nothing failed and every goal is met.
func goodReport() *Report {
	o := Options{Rounds: 20, Services: 25, FleetRounds: 2, ForwardRequests: 3000}
	r := &Report{Options: o}
	r.ColdStart1 = summarizeCold(1, times(20, woken(1500, 25, "log")))
	r.ColdStartN = summarizeCold(25, times(50, woken(2000, 40, "log")))
	r.Forward = Forward{
		Direct:     Path{Latency: latencies(3000, 0.2), RPS: 30000},
		Sidecar:    Path{Latency: latencies(3000, 0.6), RPS: 8000},
		P99DeltaMs: 0.4,
	}
	r.Memory.SidecarIdle = []RSS{{Pod: "bench/gateway-1", Container: "elasti-resolver", MiB: 13}}
	return r
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Report)
		// notMet maps each target this run must not meet to what its verdict must say (its
		// problems, or "**no**" alone when only the figure is over the goal). Every other target
		// must be met.
		notMet map[string]string
	}{
		{"every sample present, nothing failed", func(*Report) {}, nil},
		{"19 of 20 wake-ups failed", func(r *Report) {
			r.ColdStart1 = summarizeCold(1, append(times(19, failedWake()), woken(1500, 25, ReadinessLog)))
		}, overhead("19 of 20 wake-ups failed")},
		{"one wake-up failed", func(r *Report) {
			r.ColdStart1 = summarizeCold(1, append(times(19, woken(1500, 25, ReadinessLog)), failedWake()))
		}, overhead("1 of 20 wake-ups failed")},
		{"a round missing", func(r *Report) {
			r.ColdStart1 = summarizeCold(1, times(19, woken(1500, 25, ReadinessLog)))
		}, overhead("19 of 20 wake-ups sampled")},
		{"a wake-up without a readiness time", func(r *Report) {
			r.ColdStart1 = summarizeCold(1, append(times(19, woken(1500, 25, ReadinessLog)), woken(1500, 25, "")))
		}, overhead("1 of 20 successful wake-ups not with a readiness time")},
		{"readiness from the pod's Ready condition is counted", func(r *Report) {
			r.ColdStart1 = summarizeCold(1, append(times(18, woken(1500, 25, ReadinessLog)), times(2, woken(1000, 80, ReadinessPodReady))...))
		}, nil},
		{"no rounds asked for", func(r *Report) {
			r.Options.Rounds = 0
			r.ColdStart1 = summarizeCold(1, nil)
		}, overhead("no wake-ups were asked for")},
		{"overhead p50 over the goal, p99 within", func(r *Report) {
			r.ColdStart1 = summarizeCold(1, times(20, woken(1500, 150, ReadinessLog)))
		}, map[string]string{tOverheadP50: "**no**"}},
		{"fleet wake-up failed", func(r *Report) {
			r.ColdStartN = summarizeCold(25, append(times(49, woken(2000, 40, ReadinessLog)), failedWake()))
		}, map[string]string{tFleetP95: "1 of 50 wake-ups failed"}},
		{"fleet short of samples", func(r *Report) {
			r.ColdStartN = summarizeCold(25, times(25, woken(2000, 40, ReadinessLog)))
		}, map[string]string{tFleetP95: "25 of 50 wake-ups sampled"}},
		{"2,999 sidecar errors", func(r *Report) {
			r.Forward.Sidecar = Path{Latency: latencies(1, 0.6), Errors: 2999}
		}, map[string]string{tForward: "sidecar: 1 of 3000 latency samples; sidecar: 2999 errors"}},
		{"direct arm short of samples", func(r *Report) {
			r.Forward.Direct.Latency = latencies(1, 0.2)
		}, map[string]string{tForward: "direct: 1 of 3000 latency samples"}},
		{"direct arm errors", func(r *Report) { r.Forward.Direct.Errors = 3 }, map[string]string{tForward: "direct: 3 errors"}},
		{"throughput errors", func(r *Report) { r.Forward.Sidecar.Errors = 1 }, map[string]string{tForward: "sidecar: 1 errors"}},
		{"forward path over the goal", func(r *Report) { r.Forward.P99DeltaMs = 1.5 }, map[string]string{tForward: "**no**"}},
		{"idle RSS of one sidecar unreadable", func(r *Report) {
			r.Memory.SidecarIdle = append(r.Memory.SidecarIdle, RSS{Pod: "bench/gateway-2", Error: "container not running"})
		}, map[string]string{tIdleRSS: "bench/gateway-2: container not running"}},
		{"no idle RSS reading", func(r *Report) { r.Memory.SidecarIdle = nil }, map[string]string{tIdleRSS: "no sidecar was read"}},
		{"idle RSS over the goal", func(r *Report) { r.Memory.SidecarIdle[0].MiB = 16 }, map[string]string{tIdleRSS: "**no**"}},
		{"through Traefik, all fine", func(r *Report) {
			r.Options.Ingress = true
			r.ColdStartIngress = summarizeCold(1, times(20, woken(1500, 30, ReadinessLog)))
		}, nil},
		{"through Traefik, 3 wake-ups failed", func(r *Report) {
			r.Options.Ingress = true
			r.ColdStartIngress = summarizeCold(1, append(times(17, woken(1500, 30, ReadinessLog)), times(3, failedWake())...))
		}, map[string]string{tIngress: "3 of 20 wake-ups failed"}},
		{"through Traefik asked for but not run", func(r *Report) { r.Options.Ingress = true }, map[string]string{tIngress: "0 of 20 wake-ups sampled"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := goodReport()
			tc.edit(r)
			got := evaluate(r)
			want := 5
			if r.Options.Ingress {
				want++
			}
			require.Len(t, got, want)
			for _, target := range got {
				why, notMet := tc.notMet[target.Name]
				assert.Equal(t, !notMet, target.Met, "%s: measured %s, problems %v", target.Name, target.Measured, target.Problems)
				if notMet {
					assert.Contains(t, target.verdict("**no**"), why, target.Name)
				} else {
					assert.Empty(t, target.Problems, target.Name)
				}
			}
		})
	}
}

// overhead expects both overhead targets not met, for why.
func overhead(why string) map[string]string {
	return map[string]string{tOverheadP50: why, tOverheadP99: why}
}

func TestFallbackReadinessIsShown(t *testing.T) {
	r := goodReport()
	r.ColdStart1 = summarizeCold(1, append(times(18, woken(1500, 25, ReadinessLog)), times(2, woken(1000, 80, ReadinessPodReady))...))
	r.Targets = evaluate(r)
	assert.Equal(t, "25.0 ms (n=20, 2 of them ready by the pod's Ready condition, 1 s resolution)", r.Targets[0].Measured)

	var page strings.Builder
	r.Markdown(&page)
	assert.Contains(t, page.String(), "18 from the app's log, 2 from the pod's Ready condition (fallback, 1 s resolution), 0 none (1 service)")
}

func TestReportShowsWhyATargetIsNotMet(t *testing.T) {
	r := goodReport()
	r.Machine.Commit = "3608cb5-dirty"
	r.ColdStart1 = summarizeCold(1, append(times(19, failedWake()), woken(1500, 25, ReadinessLog)))
	r.Targets = evaluate(r)

	var page, table strings.Builder
	r.Markdown(&page)
	r.Table(&table)
	assert.Contains(t, page.String(), "| cold-start overhead p50 (1 service) | ≤ 100 ms | 25.0 ms (n=1) | **no** (19 of 20 wake-ups failed) |")
	assert.Contains(t, page.String(), "| commit | 3608cb5-dirty |")
	assert.Contains(t, table.String(), "NO (19 of 20 wake-ups failed)")
}

func TestTrafficTriggerSection(t *testing.T) {
	r := goodReport()
	var page strings.Builder
	r.Markdown(&page)
	assert.NotContains(t, page.String(), "Traffic trigger under load", "skipped run: no section")

	r.Observation = Observation{CooldownS: 30, DurationS: 180, Workers: 4, EveryMs: 50, Requests: 9000, ProxyShare: 0.043, Observations: 5,
		MeanObservation: 1.6, Serve: Dist{N: 8500, P50: 1.2, P95: 2.0}, Observing: Dist{N: 500, P50: 1.5, P95: 2.6}}
	page.Reset()
	r.Markdown(&page)
	assert.Contains(t, page.String(), "it spent **4.3 % of the run in proxy mode**, in 5 observations of 1.6 s on average; 9000 requests, 0 failed")
	assert.Contains(t, page.String(), "Added during observations: p50 +0.300 ms, p95 +0.600 ms.")
}

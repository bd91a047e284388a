package bench

import (
	"fmt"
	"strings"
)

// Target is one goal of the issue and whether this run met it.
//
// A figure only counts when it stands for the whole run: a target is met only when every sample
// the options asked for is present, nothing failed, and the figure is within the goal. Problems
// says what kept a figure from counting (a failed wake-up, a missing sample, an error on either
// arm of a comparison); a target with any problem is not met, whatever its figure says.
type Target struct {
	Name     string   `json:"name"`
	Goal     string   `json:"goal"`
	Measured string   `json:"measured"`
	Met      bool     `json:"met"`
	Problems []string `json:"problems,omitempty"`
}

// Readiness sources of a ColdSample: the app's own log line, or the fallback, the pod's Ready
// condition (the API server's one-second resolution, and the kubelet's probe period after the
// app could answer).
const (
	ReadinessLog      = "log"
	ReadinessPodReady = "pod-ready"
)

// evaluate checks the targets against the report. It reads nothing but the report.
func evaluate(r *Report) []Target {
	o := r.Options
	single, fleet := r.ColdStart1, r.ColdStartN
	overheadProblems := coldProblems(single, o.Rounds, single.Overhead.N, "with a readiness time")
	overheadNote := readinessNote(single)
	fleetProblems := coldProblems(fleet, o.Services*o.FleetRounds, fleet.Total.N, "timed")
	out := []Target{
		target("cold-start overhead p50 (1 service)", "≤ 100 ms", fmt.Sprintf("%.1f ms%s", single.Overhead.P50, overheadNote),
			single.Overhead.P50 <= 100, overheadProblems),
		target("cold-start overhead p99 (1 service)", "≤ 300 ms", fmt.Sprintf("%.1f ms%s", single.Overhead.P99, overheadNote),
			single.Overhead.P99 <= 300, overheadProblems),
		target(fmt.Sprintf("cold-start total p95 (%d services at once)", fleet.Services), "≤ 3000 ms",
			fmt.Sprintf("%.1f ms", fleet.Total.P95), fleet.Total.P95 <= 3000, fleetProblems),
		target("sidecar forward path p99 vs direct", "≤ +1 ms", fmt.Sprintf("%+.3f ms", r.Forward.P99DeltaMs),
			r.Forward.P99DeltaMs <= 1, forwardProblems(r.Forward, o.ForwardRequests)),
		idleRSSTarget(r.Memory.SidecarIdle),
	}
	if o.Ingress {
		in := r.ColdStartIngress
		out = append(out, target("cold-start overhead p50 through Traefik (external host)", "≤ 100 ms",
			fmt.Sprintf("%.1f ms%s", in.Overhead.P50, readinessNote(in)), in.Overhead.P50 <= 100,
			coldProblems(in, o.Rounds, in.Overhead.N, "with a readiness time")))
	}
	return out
}

func target(name, goal, measured string, within bool, problems []string) Target {
	return Target{Name: name, Goal: goal, Measured: measured, Met: within && len(problems) == 0, Problems: problems}
}

// coldProblems says what is missing from a cold-start measurement: want wake-ups were asked
// for, and counted of them have the figure the target reads (what says which figure).
func coldProblems(cs ColdStart, want, counted int, what string) []string {
	var p []string
	if want <= 0 {
		p = append(p, "no wake-ups were asked for")
	}
	if n := len(cs.Samples); n != want {
		p = append(p, fmt.Sprintf("%d of %d wake-ups sampled", n, want))
	}
	if cs.Failed > 0 {
		p = append(p, fmt.Sprintf("%d of %d wake-ups failed", cs.Failed, len(cs.Samples)))
	}
	if ok := len(cs.Samples) - cs.Failed; counted < ok {
		p = append(p, fmt.Sprintf("%d of %d successful wake-ups not %s", ok-counted, ok, what))
	}
	return p
}

// readinessNote counts the samples whose readiness time came from the fallback source.
func readinessNote(cs ColdStart) string {
	fallback := 0
	for _, s := range cs.Samples {
		if s.Error == "" && s.ReadinessSource == ReadinessPodReady {
			fallback++
		}
	}
	if fallback == 0 {
		return fmt.Sprintf(" (n=%d)", cs.Overhead.N)
	}
	return fmt.Sprintf(" (n=%d, %d of them ready by the pod's Ready condition, 1 s resolution)", cs.Overhead.N, fallback)
}

// forwardProblems: both arms must have every sequential sample and no error in either run.
func forwardProblems(f Forward, want int) []string {
	var p []string
	if want <= 0 {
		p = append(p, "no forward-path requests were asked for")
	}
	for _, arm := range []struct {
		name string
		path Path
	}{{"direct", f.Direct}, {"sidecar", f.Sidecar}} {
		if arm.path.Latency.N != want {
			p = append(p, fmt.Sprintf("%s: %d of %d latency samples", arm.name, arm.path.Latency.N, want))
		}
		if arm.path.Errors > 0 {
			p = append(p, fmt.Sprintf("%s: %d errors", arm.name, arm.path.Errors))
		}
	}
	return p
}

// idleRSSTarget: every sidecar's idle RSS must have been read.
func idleRSSTarget(rs []RSS) Target {
	var p []string
	maxIdle := 0.0
	for _, s := range rs {
		if s.Error != "" {
			p = append(p, fmt.Sprintf("%s: %s", s.Pod, s.Error))
			continue
		}
		maxIdle = max(maxIdle, s.MiB)
	}
	if len(rs) == 0 {
		p = append(p, "no sidecar was read")
	}
	return target("sidecar idle RSS", "≤ 15 MiB", fmt.Sprintf("%.1f MiB", maxIdle), maxIdle <= 15, p)
}

// verdict is the "met" cell of the report: yes, or no with what kept the target from being met.
func (t Target) verdict(no string) string {
	if t.Met {
		return "yes"
	}
	if len(t.Problems) == 0 {
		return no
	}
	return no + " (" + strings.Join(t.Problems, "; ") + ")"
}

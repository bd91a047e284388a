package bench

import (
	"fmt"
	"io"
	"strings"
)

// Markdown writes docs/benchmarks.md.
func (r *Report) Markdown(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "# Benchmarks\n\nWritten by `make bench-e2e` (`cmd/elasti-bench`) on %s, in %.0f s. Re-run it to refresh this page;\n", r.Started.Format("2006-01-02 15:04 UTC"), r.DurationS)
	fmt.Fprintf(w, "the raw figures of this run are in `bin/bench.json`.\n\n## Machine\n\n| | |\n|---|---|\n")
	fmt.Fprintf(w, "| host | %s |\n| CPU | %s, %d cores |\n| memory | %d MiB |\n| kernel | %s |\n| Kubernetes | %s |\n| Go | %s |\n| commit | %s |\n\n",
		m.Host, m.CPU, m.Cores, m.MemoryMiB, m.Kernel, m.Kubernetes, m.Go, m.Commit)
	fmt.Fprintf(w, "The cluster, the load client and everything else share these %d cores; figures are what this\nmachine gave, not a lower bound.\n\n", m.Cores)
	fmt.Fprintf(w, "## Targets\n\n| target | goal | measured | met |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.Name, t.Goal, t.Measured, t.verdict("**no**"))
	}
	fmt.Fprintf(w, "\nA target is met only when every sample the run asked for is present and nothing failed (on both arms of the\n")
	fmt.Fprintf(w, "forward path); otherwise the cell says what kept the figure from counting. Readiness times taken from the pod's\n")
	fmt.Fprintf(w, "Ready condition (the fallback when the app's log has no `listening` line) are counted and named in *measured*.\n")
	fmt.Fprintf(w, "\n## Cold starts\n\nA request through the demo gateway to a Service at zero (app start-up delay %s);\nwith `-ingress`, the same single service also woken through Traefik with an external host.\n", r.Options.StartupDelay)
	fmt.Fprintf(w, "*Total*: request sent → response read. *Held*: the sidecar's `Server-Timing`. *Until ready*: request sent →\n")
	fmt.Fprintf(w, "the app's `listening` log line (kubelet timestamp). *Overhead*: the app ready → response read, i.e. what is added\nafter the application itself could answer.\n")
	fmt.Fprintf(w, "The indented steps split both by what the bench saw through its own watches on the Deployment, the pod and the\n")
	fmt.Fprintf(w, "EndpointSlices (the moment an update arrived, not the API server's one-second timestamps), so each names who spent\n")
	fmt.Fprintf(w, "the time. A step is counted from the later of its start and the previous step's end, so the steps of the overhead add\n")
	fmt.Fprintf(w, "up to it; a sample whose marks were not all seen is left out of that step's row (hence a smaller n).\n\n")
	fmt.Fprintf(w, "| measure | n | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n")
	for _, row := range r.distRows() {
		name := strings.TrimLeft(row.name, " ")
		name = strings.Repeat("&nbsp;", len(row.name)-len(name)) + name
		fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.1f | %.1f |\n", name, row.d.N, row.d.P50, row.d.P95, row.d.P99, row.d.Max)
	}
	fmt.Fprintf(w, "\nFailed wake-ups: %d of %d (1 service), %d of %d (%d at once).\n",
		r.ColdStart1.Failed, len(r.ColdStart1.Samples), r.ColdStartN.Failed, len(r.ColdStartN.Samples), r.ColdStartN.Services)
	if n := len(r.ColdStartIngress.Samples); n > 0 {
		fmt.Fprintf(w, "Through Traefik (an ingress controller that connects to the endpoints itself, Host `<app>.bench.example.test`, no\n")
		fmt.Fprintf(w, "Elasti annotation): %d of %d failed; readiness times %s.\n", r.ColdStartIngress.Failed, n, readinessCounts(r.ColdStartIngress))
	}
	fmt.Fprintf(w, "Readiness times of the successful wake-ups: %s (1 service); %s (%d at once).\n",
		readinessCounts(r.ColdStart1), readinessCounts(r.ColdStartN), r.ColdStartN.Services)
	fmt.Fprintf(w, "\n## Forward path\n\n%d sequential requests per path on one kept-alive connection, alternating between a direct\n", r.Options.ForwardRequests)
	fmt.Fprintf(w, "connection to the pod and the sidecar's proxy port (serve mode: the sidecar forwards at once); then %d\nconcurrent clients for %s per path.\n\n", r.Options.ForwardConcurrency, r.Options.ForwardDuration)
	f := r.Forward
	fmt.Fprintf(w, "| path | p50 ms | p99 ms | max ms | req/s | errors |\n|---|---|---|---|---|---|\n")
	for _, p := range []Path{f.Direct, f.Sidecar} {
		fmt.Fprintf(w, "| %s | %.3f | %.3f | %.3f | %.0f | %d |\n", p.Target, p.Latency.P50, p.Latency.P99, p.Latency.Max, p.RPS, p.Errors)
	}
	fmt.Fprintf(w, "\nSidecar minus direct: p50 %+.3f ms, p99 %+.3f ms.\n", f.P50DeltaMs, f.P99DeltaMs)
	r.trafficTrigger(w)
	r.observations(w)
	fmt.Fprintf(w, "\n## Memory (RSS from /proc on the node)\n\nPer container: the largest process's VmRSS plus the anonymous memory (RssAnon) of the others (the sidecar's supervisor shares the resolver's binary pages).\n\n| process | when | MiB |\n|---|---|---|\n")
	for _, set := range []struct {
		when string
		rs   []RSS
	}{{"idle", r.Memory.SidecarIdle}, {"after the forward-path load", r.Memory.SidecarAfterLoad}, {"during the run", r.Memory.Operator}} {
		for _, s := range set.rs {
			v := fmt.Sprintf("%.1f", s.MiB)
			if s.Error != "" {
				v = "n/a (" + s.Error + ")"
			}
			fmt.Fprintf(w, "| %s %s | %s | %s |\n", s.Pod, s.Container, set.when, v)
		}
	}
}

// readinessCounts says where the successful samples' readiness times came from.
func readinessCounts(cs ColdStart) string {
	by := map[string]int{}
	for _, s := range cs.Samples {
		if s.Error == "" {
			by[s.ReadinessSource]++
		}
	}
	return fmt.Sprintf("%d from the app's log, %d from the pod's Ready condition (fallback, 1 s resolution), %d none",
		by[ReadinessLog], by[ReadinessPodReady], by[""])
}

// observations explains misses from the figures themselves, so the page says where the time went.
func (r *Report) observations(w io.Writer) {
	var notes []string
	delay := float64(r.Options.StartupDelay.Milliseconds())
	if n := r.ColdStartN; n.Total.N > 0 && n.Total.P95 > 3000 {
		notes = append(notes, fmt.Sprintf("With %d services woken at once the apps themselves were ready only %.0f ms (p50) / %.0f ms (p95) after the "+
			"request although each starts in %.0f ms.%s%s",
			n.Services, n.AppReady.P50, n.AppReady.P95, delay, stepsSentence(n, Steps, "until readiness"), stepsSentence(n, OverheadSteps, "after it")))
		if n.CPUBusyPct > 0 {
			notes = append(notes, fmt.Sprintf("This machine's CPUs were %.0f%% busy while the %d services woke (from /proc/stat, all %d cores, "+
				"over the rounds): the API server, etcd, the kubelet, containerd and runc starting %d pods compete for the same cores.",
				n.CPUBusyPct, n.Services, r.Machine.Cores, n.Services))
		}
		if a, b := n.Steps[StepScale], n.Steps[StepElasti]; a.N > 0 && b.N > 0 {
			notes = append(notes, fmt.Sprintf("Elasti's own steps with %d at once: request → Deployment scaled %.0f ms p50 / %.0f ms p95 "+
				"(sidecar report, elastiserver, the scale write, under the load of everything else starting), and the IP listed → "+
				"response read %.0f ms p50 / %.0f ms p95 (operator stream, the sidecar's probe, forwarding).", n.Services, a.P50, a.P95, b.P50, b.P95))
		}
	}
	if f := r.Forward; f.Sidecar.RPS > 0 && f.Direct.RPS > 0 {
		notes = append(notes, fmt.Sprintf("Throughput through the sidecar was %.0f%% of direct; the load client, the sidecar and the app share the same %d cores, "+
			"so this compares CPU cost per request more than capacity.", 100*f.Sidecar.RPS/f.Direct.RPS, r.Machine.Cores))
	}
	if len(notes) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## Observations\n\n")
	for _, n := range notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
}

// stepsSentence says, with each step's p50 and p95, where the time went, and which step was the
// longest at p95 (where a miss shows).
func stepsSentence(cs ColdStart, steps []string, what string) string {
	var parts []string
	longest, longestMs := "", -1.0
	for _, step := range steps {
		d, ok := cs.Steps[step]
		if !ok {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.0f / %.0f ms", strings.TrimPrefix(step, "→ "), d.P50, d.P95))
		if d.P95 > longestMs {
			longest, longestMs = step, d.P95
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf(" By step %s (p50 / p95): %s; the longest at p95: %s.", what, strings.Join(parts, ", "), strings.TrimPrefix(longest, "→ "))
}

// trafficTrigger writes the traffic trigger's run: time in proxy mode and the latency paid then.
func (r *Report) trafficTrigger(w io.Writer) {
	o := r.Observation
	if o.Requests == 0 {
		return
	}
	fmt.Fprintf(w, "\n## Traffic trigger under load\n\nA service with a `traffic` trigger (cooldown %.0f s, no Prometheus) under a steady load through the gateway for %.0f s "+
		"(%d keep-alive clients, each pausing %.0f ms between requests): it spent **%.1f %% of the run in proxy mode**, in %d observations "+
		"of %.1f s on average; %d requests, %d failed.\n\n", o.CooldownS, o.DurationS, o.Workers, o.EveryMs, 100*o.ProxyShare, o.Observations,
		o.MeanObservation, o.Requests, o.Failures)
	fmt.Fprintf(w, "| requests sent while | n | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n")
	for _, row := range []struct {
		name string
		d    Dist
	}{{"serve mode", o.Serve}, {"an observation (proxy mode, the sidecar forwards)", o.Observing}} {
		fmt.Fprintf(w, "| %s | %d | %.3f | %.3f | %.3f | %.3f |\n", row.name, row.d.N, row.d.P50, row.d.P95, row.d.P99, row.d.Max)
	}
	if o.Serve.N > 0 && o.Observing.N > 0 {
		fmt.Fprintf(w, "\nAdded during observations: p50 %+.3f ms, p95 %+.3f ms.\n", o.Observing.P50-o.Serve.P50, o.Observing.P95-o.Serve.P95)
	}
}

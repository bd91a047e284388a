package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/elasti-dev/elasti/internal/docsection"
)

// results are every round of every proxy, with the circumstances.
type results struct {
	Started      time.Time
	Options      options
	Rounds       []round
	LoadBefore   string
	LoadAfter    string
	NginxVersion string
	Commit       string
}

// measure runs the rounds, alternating the proxies, and changing which goes first every round
// (A B, B A, ...) so that a drift in the machine's load weighs on both alike.
func measure(ctx context.Context, o options, procs []*proxyProc) (*results, error) {
	res := &results{Started: time.Now().UTC(), Options: o, LoadBefore: loadAverage(), Commit: commit()}
	for i := range o.rounds {
		order := slices.Clone(procs)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, p := range order {
			r, err := measureRound(ctx, p, o.conns, o.warmup, o.duration)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", i+1, p.name, err)
			}
			fmt.Printf("round %d %-8s %8.0f req/s  %6.1f µs CPU/req  p50 %.3f ms  p99 %.3f ms  errors %d  load %s\n",
				i+1, p.name, r.RPS(), micros(r.CPUPerRequest()), millis(pct(r.latencies, 50)), millis(pct(r.latencies, 99)), r.Errors, loadAverage())
			res.Rounds = append(res.Rounds, r)
		}
	}
	res.LoadAfter = loadAverage()
	return res, nil
}

// summary is one proxy over all its rounds.
type summary struct {
	Requests, Errors     int64
	CPU, Elapsed         time.Duration
	MinCPUReq, MaxCPUReq time.Duration
	latencies            []time.Duration
}

func (s summary) CPUPerRequest() time.Duration { return s.CPU / time.Duration(max(1, s.Requests)) }
func (s summary) RPS() float64                 { return float64(s.Requests) / s.Elapsed.Seconds() }

func (r *results) summary(proxy string) summary {
	var s summary
	for _, rd := range r.Rounds {
		if rd.Proxy != proxy {
			continue
		}
		c := rd.CPUPerRequest()
		if s.Requests == 0 || c < s.MinCPUReq {
			s.MinCPUReq = c
		}
		s.MaxCPUReq = max(s.MaxCPUReq, c)
		s.Requests += rd.Requests
		s.Errors += rd.Errors
		s.CPU += rd.CPU
		s.Elapsed += rd.Elapsed
		s.latencies = append(s.latencies, rd.latencies...)
	}
	slices.Sort(s.latencies)
	return s
}

// proxies are the names measured, in the order of the report.
func (r *results) proxies() []string {
	var out []string
	for _, name := range []string{sidecarName, baselineName, nginxName} {
		if slices.ContainsFunc(r.Rounds, func(rd round) bool { return rd.Proxy == name }) {
			out = append(out, name)
		}
	}
	return out
}

// Ratio is a proxy's CPU per request over nginx's, over all rounds.
func (r *results) Ratio(proxy string) float64 {
	return float64(r.summary(proxy).CPUPerRequest()) / float64(r.summary(nginxName).CPUPerRequest())
}

// Check fails a run in which a proxy answered anything but the upstream's 200.
func (r *results) Check() error {
	for _, p := range r.proxies() {
		if s := r.summary(p); s.Errors > 0 || s.Requests == 0 {
			return fmt.Errorf("%s: %d requests, %d errors", p, s.Requests, s.Errors)
		}
	}
	return nil
}

func (r *results) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nproxy\treq/s\tCPU µs/req\t(rounds)\tvs nginx\tp50 ms\tp90 ms\tp99 ms\terrors")
	for _, p := range r.proxies() {
		s := r.summary(p)
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%.1f–%.1f\t%.2f×\t%.3f\t%.3f\t%.3f\t%d\n", p, s.RPS(), micros(s.CPUPerRequest()),
			micros(s.MinCPUReq), micros(s.MaxCPUReq), r.Ratio(p), millis(pct(s.latencies, 50)), millis(pct(s.latencies, 90)), millis(pct(s.latencies, 99)), s.Errors)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nsidecar/nginx CPU per request: %.2f×; req/s: %.2f×; load average %s → %s\n",
		r.Ratio(sidecarName), r.summary(sidecarName).RPS()/r.summary(nginxName).RPS(), r.LoadBefore, r.LoadAfter)
}

// sectionName names the section of docs/benchmarks.md this tool owns.
const sectionName = "forward-vs-nginx"

// WriteSection replaces this tool's section of the page (make bench-e2e keeps it).
func (r *results) WriteSection(path string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var body strings.Builder
	r.Markdown(&body)
	return os.WriteFile(path, []byte(docsection.Replace(string(old), sectionName, "make bench-forward", body.String())), 0o644)
}

// Markdown writes the section.
func (r *results) Markdown(w io.Writer) {
	o := r.Options
	sc, ng := r.summary(sidecarName), r.summary(nginxName)
	fmt.Fprintf(w, "## Forward path vs nginx (loopback)\n\n")
	fmt.Fprintf(w, "Written by `make bench-forward` (`hack/bench-forward.sh`, `hack/tools/benchforward`) on %s, commit %s,\n", r.Started.Format("2006-01-02 15:04 UTC"), r.Commit)
	fmt.Fprintf(w, "%d cores, %s, %s. Load average %s before, %s after (other work shares the machine;\n", runtime.NumCPU(), runtime.Version(), r.NginxVersion, r.LoadBefore, r.LoadAfter)
	fmt.Fprintf(w, "the rounds alternate so that it weighs on both alike).\n\n")
	fmt.Fprintf(w, "The sidecar binary forwards a service in proxy mode whose pod is ready (forwarded at once, never\n")
	fmt.Fprintf(w, "held: the mode the traffic trigger keeps a quiet service in), requests arriving on its sidecar port;\n")
	fmt.Fprintf(w, "nginx is a reverse proxy with `worker_processes 1`, keep-alive to the client and to the upstream\n")
	fmt.Fprintf(w, "(`proxy_http_version 1.1`, `keepalive` upstream, `proxy_set_header Connection \"\"`), `proxy_buffering off`,\n")
	fmt.Fprintf(w, "no access log, Host and X-Forwarded-* set like the sidecar. Both forward to the same Go upstream (a %d-byte\n", len(upstreamBody))
	fmt.Fprintf(w, "answer). The same Go client drives each: %d kept-alive HTTP/1.1 connections, one request after another on\n", o.conns)
	fmt.Fprintf(w, "each, %d rounds of %s per proxy after %s of warm-up, alternating. CPU is utime+stime of the proxy's\n", o.rounds, o.duration, o.warmup)
	fmt.Fprintf(w, "processes (the sidecar; nginx's master and worker) from `/proc/<pid>/stat` over each round, divided by the\n")
	fmt.Fprintf(w, "requests answered in it. nginx runs one worker, so it uses at most one core; the sidecar's Go runtime may\n")
	fmt.Fprintf(w, "use both: CPU per request is the like-for-like figure, req/s depends on that difference.\n\n")
	fmt.Fprintf(w, "| proxy | req/s | CPU µs/request | per round | vs nginx | p50 ms | p90 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range r.proxies() {
		s := r.summary(p)
		name := p
		if p == baselineName {
			name = "sidecar before (" + o.baselineRev + ")"
		}
		fmt.Fprintf(w, "| %s | %.0f | %.1f | %.1f–%.1f | %.2f× | %.3f | %.3f | %.3f | %d |\n", name, s.RPS(), micros(s.CPUPerRequest()),
			micros(s.MinCPUReq), micros(s.MaxCPUReq), r.Ratio(p), millis(pct(s.latencies, 50)), millis(pct(s.latencies, 90)), millis(pct(s.latencies, 99)), s.Errors)
	}
	ratio := r.Ratio(sidecarName)
	fmt.Fprintf(w, "\n**Sidecar / nginx CPU per request: %.2f×** (target ≤ 1.5×: %s); requests per second: %.2f×.\n",
		ratio, yesNo(ratio <= 1.5), sc.RPS()/ng.RPS())
	if o.baseline != "" {
		base := r.summary(baselineName)
		fmt.Fprintf(w, "The sidecar before (%s), measured in the same rounds: %.2f× nginx's CPU per request; now %.0f%% of its CPU per request.\n",
			o.baselineRev, r.Ratio(baselineName), 100*float64(sc.CPUPerRequest())/float64(base.CPUPerRequest()))
	}
}

func yesNo(b bool) string {
	if b {
		return "met"
	}
	return "**not met**"
}

// pct is the p-th percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/elasti-dev/elasti/internal/docsection"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// Report is everything a run measured.
type Report struct {
	Started    time.Time `json:"started"`
	DurationS  float64   `json:"durationSeconds"`
	Machine    Machine   `json:"machine"`
	Options    Options   `json:"options"`
	ColdStart1 ColdStart `json:"coldStartSingle"`
	ColdStartN ColdStart `json:"coldStartFleet"`
	// ColdStartIngress: the single service woken through Traefik with an external host (empty
	// without -ingress).
	ColdStartIngress ColdStart `json:"coldStartIngress"`
	Forward          Forward   `json:"forward"`
	// Observation: the traffic trigger under load (empty when skipped).
	Observation Observation `json:"observation"`
	Memory      Memory      `json:"memory"`
	Targets     []Target    `json:"targets"`
}

// Machine describes where the run happened.
type Machine struct {
	Host       string `json:"host"`
	Kernel     string `json:"kernel"`
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryMiB  int64  `json:"memoryMiB"`
	Kubernetes string `json:"kubernetes"`
	Go         string `json:"go"`
	// Commit is `git describe --always --dirty` of the tree the bench ran from.
	Commit string `json:"commit"`
}

func describeMachine(ctx context.Context, env *framework.Env) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	m.Host, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.CPU = procField("/proc/cpuinfo", "model name")
	var kb int64
	_, _ = fmt.Sscanf(procField("/proc/meminfo", "MemTotal"), "%d", &kb)
	m.MemoryMiB = kb / 1024
	if v, err := env.Kube.Discovery().ServerVersion(); err == nil {
		m.Kubernetes = v.GitVersion
	}
	// --dirty: figures from a tree with uncommitted changes say so.
	if out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (r *Report) write(out io.Writer, o Options) error {
	r.Table(out)
	if o.JSONOut != "" {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding the report: %w", err)
		}
		if err := os.WriteFile(o.JSONOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", o.JSONOut, err)
		}
	}
	if o.MarkdownOut != "" {
		var sb strings.Builder
		r.Markdown(&sb)
		// Sections other tools own (make bench-forward's) are carried over.
		old, _ := os.ReadFile(o.MarkdownOut)
		if err := os.WriteFile(o.MarkdownOut, []byte(docsection.Keep(sb.String(), string(old))), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", o.MarkdownOut, err)
		}
	}
	return nil
}

// Table prints the readable summary.
func (r *Report) Table(out io.Writer) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nmeasure\tn\tp50 ms\tp95 ms\tp99 ms\tmax ms")
	for _, row := range r.distRows() {
		fmt.Fprintf(w, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\n", row.name, row.d.N, row.d.P50, row.d.P95, row.d.P99, row.d.Max)
	}
	fmt.Fprintf(w, "\nthroughput direct\t%.0f req/s\nthroughput sidecar\t%.0f req/s\n", r.Forward.Direct.RPS, r.Forward.Sidecar.RPS)
	fmt.Fprintln(w, "\ntarget\tgoal\tmeasured\tmet")
	for _, t := range r.Targets {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Name, t.Goal, t.Measured, t.verdict("NO"))
	}
	_ = w.Flush()
}

type distRow struct {
	name string
	d    Dist
}

func (r *Report) distRows() []distRow {
	var rows []distRow
	arms := []struct {
		name string
		cs   ColdStart
	}{{"cold start total, 1 service", r.ColdStart1}}
	if len(r.ColdStartIngress.Samples) > 0 {
		arms = append(arms, struct {
			name string
			cs   ColdStart
		}{"cold start total, 1 service through Traefik (external host)", r.ColdStartIngress})
	}
	arms = append(arms, struct {
		name string
		cs   ColdStart
	}{fmt.Sprintf("cold start total, %d at once", r.ColdStartN.Services), r.ColdStartN})
	for _, c := range arms {
		rows = append(rows, distRow{c.name, c.cs.Total}, distRow{"  time held (Server-Timing)", c.cs.Held},
			distRow{"  until the app was ready", c.cs.AppReady})
		for _, step := range Steps {
			if d, ok := c.cs.Steps[step]; ok {
				rows = append(rows, distRow{"    " + step, d})
			}
		}
		rows = append(rows, distRow{"  overhead above readiness", c.cs.Overhead})
		for _, step := range OverheadSteps {
			if d, ok := c.cs.Steps[step]; ok {
				rows = append(rows, distRow{"    " + step, d})
			}
		}
	}
	return append(rows,
		distRow{"forward latency, direct to pod", r.Forward.Direct.Latency},
		distRow{"forward latency, via sidecar", r.Forward.Sidecar.Latency})
}

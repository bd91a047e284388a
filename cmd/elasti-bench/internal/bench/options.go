package bench

import (
	"flag"
	"time"
)

// Options configure a run.
type Options struct {
	// Rounds of the single-service cold start.
	Rounds int
	// Services woken at once in the fleet cold start, and FleetRounds of it.
	Services    int
	FleetRounds int
	// StartupDelay of the demo apps.
	StartupDelay time.Duration
	// ForwardRequests: sequential requests per path for latency; ForwardConcurrency and
	// ForwardDuration: the throughput run per path.
	ForwardRequests    int
	ForwardConcurrency int
	ForwardDuration    time.Duration
	// JSONOut and MarkdownOut are written when set.
	JSONOut     string
	MarkdownOut string
	// Keep leaves the namespace for inspection.
	Keep bool
	// Ingress adds the single-service cold starts through Traefik with an external host.
	Ingress bool
	// ObserveDuration, ObserveCooldown, ObserveWorkers and ObserveEvery: the traffic trigger's
	// run (0 duration skips it).
	ObserveDuration time.Duration
	ObserveCooldown time.Duration
	ObserveWorkers  int
	ObserveEvery    time.Duration
}

// BindFlags registers the flags.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.IntVar(&o.Rounds, "rounds", 20, "cold starts of a single service")
	fs.IntVar(&o.Services, "services", 25, "services woken at once in the fleet cold start")
	fs.IntVar(&o.FleetRounds, "fleet-rounds", 2, "rounds of the fleet cold start")
	fs.DurationVar(&o.StartupDelay, "startup-delay", time.Second, "demo app start-up delay")
	fs.IntVar(&o.ForwardRequests, "forward-requests", 3000, "sequential requests per path for the latency percentiles")
	fs.IntVar(&o.ForwardConcurrency, "forward-concurrency", 16, "concurrent clients of the throughput run")
	fs.DurationVar(&o.ForwardDuration, "forward-duration", 5*time.Second, "length of the throughput run per path")
	fs.StringVar(&o.JSONOut, "json", "", "write the report as JSON to this file")
	fs.StringVar(&o.MarkdownOut, "markdown", "", "write the report as Markdown to this file (e.g. docs/benchmarks.md)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the benchmark namespace")
	fs.DurationVar(&o.ObserveDuration, "observe-duration", 3*time.Minute, "length of the traffic trigger's run under load (0 skips it)")
	fs.DurationVar(&o.ObserveCooldown, "observe-cooldown", 30*time.Second, "cooldownPeriod of the traffic trigger's service (whole seconds)")
	fs.IntVar(&o.ObserveWorkers, "observe-workers", 4, "clients of the traffic trigger's run")
	fs.DurationVar(&o.ObserveEvery, "observe-every", 50*time.Millisecond, "pause of each client between requests in the traffic trigger's run")
	fs.BoolVar(&o.Ingress, "ingress", true, "also wake the single service through Traefik (an ingress controller routing an external host; image from `make e2e-images`)")
}

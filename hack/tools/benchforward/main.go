// Command benchforward runs the sidecar's forward path side by side with nginx on loopback and
// reports the CPU each proxy spends per request. hack/bench-forward.sh (make bench-forward)
// builds the sidecar, installs nginx when missing and runs it; see docs/benchmarks.md.
//
// One upstream (a small Go HTTP server in this process) answers both proxies. The sidecar is the
// built binary, given one service in proxy mode with a ready endpoint by a stub operator in this
// process (sidecar/stuboperator), and driven on that service's sidecar port: the path a gateway's
// request takes while the traffic trigger keeps a quiet service in proxy mode (forwarded at
// once, never held). nginx is a reverse proxy to the same upstream with keep-alive on both
// sides and one worker process. The same load generator (keep-alive HTTP/1.1, a fixed number of
// connections, a fixed duration) drives both, in alternating rounds, so that whatever else
// runs on the machine weighs on both alike. CPU per request is utime+stime of the proxy's
// processes (/proc/<pid>/stat; every nginx process) over the round, divided by the requests
// answered in it.
//
// Every process it starts it stops by pid, and records in a pid file under -work so that the
// script can stop them if this process dies.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type options struct {
	sidecar, baseline, baselineRev, nginx, work, markdown string
	rounds, conns                                         int
	duration, warmup                                      time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.sidecar, "sidecar", "", "the built sidecar binary (required)")
	flag.StringVar(&o.baseline, "baseline", "", "another sidecar binary (an earlier commit) measured in the same rounds, for before/after figures")
	flag.StringVar(&o.baselineRev, "baseline-rev", "", "what -baseline was built from, for the report")
	flag.StringVar(&o.nginx, "nginx", "nginx", "the nginx binary")
	flag.StringVar(&o.work, "work", "", "directory for configs, logs and pid files (required, must exist)")
	flag.StringVar(&o.markdown, "markdown", "", "write the figures into this page's forward-vs-nginx section (docs/benchmarks.md)")
	flag.IntVar(&o.rounds, "rounds", 5, "measured rounds per proxy, alternating")
	flag.IntVar(&o.conns, "conns", 16, "kept-alive client connections")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured time of one round")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each round")
	flag.Parse()
	if o.sidecar == "" || o.work == "" || o.rounds < 1 || o.conns < 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-forward:", err)
		os.Exit(1)
	}
}

// run starts the upstream and both proxies, measures, stops everything and writes the report.
func run(ctx context.Context, o options) error {
	up, err := startUpstream()
	if err != nil {
		return err
	}
	defer up.Close()
	sc, err := startSidecar(ctx, o, sidecarName, o.sidecar, up.port)
	if err != nil {
		return err
	}
	defer sc.Stop()
	procs := []*proxyProc{sc.proxyProc}
	if o.baseline != "" {
		base, err := startSidecar(ctx, o, baselineName, o.baseline, up.port)
		if err != nil {
			return err
		}
		defer base.Stop()
		procs = append(procs, base.proxyProc)
	}
	ng, err := startNginx(ctx, o, up.port)
	if err != nil {
		return err
	}
	defer ng.Stop()
	res, err := measure(ctx, o, append(procs, ng.proxyProc))
	if err != nil {
		return err
	}
	res.NginxVersion = ng.version
	res.Print(os.Stdout)
	if o.markdown != "" {
		if err := res.WriteSection(o.markdown); err != nil {
			return err
		}
		fmt.Printf("\nwrote the forward-vs-nginx section of %s\n", o.markdown)
	}
	return res.Check()
}

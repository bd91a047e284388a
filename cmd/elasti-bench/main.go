// Command elasti-bench measures Elasti on a real cluster: cold starts (total time, time held in
// the sidecar, and overhead above the app's own readiness) for one service and for many woken at
// once; the sidecar's forward path against a direct connection to the pod; and the memory of the
// sidecar and the operator. It prints a table, writes JSON, and can write docs/benchmarks.md.
// It must run on a node of the cluster (it dials pod IPs and reads /proc), as the e2e suite does.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/elasti-dev/elasti/cmd/elasti-bench/internal/bench"
)

func main() {
	var o bench.Options
	o.BindFlags(flag.CommandLine)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench.Run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "elasti-bench:", err)
		os.Exit(1)
	}
}

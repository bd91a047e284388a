// Command sidecar is Elasti's resolver: it runs beside a gateway container, holds requests for
// services scaled to zero, asks the operator to wake them and forwards the requests as soon as a
// pod can serve. See docs/sidecar.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/sidecar"
	"github.com/elasti-dev/elasti/sidecar/supervisor"
)

func main() {
	var cfg sidecar.Config
	fs := flag.NewFlagSet("sidecar", flag.ExitOnError)
	cfg.BindFlags(fs)
	_ = fs.Parse(os.Args[1:])
	cfg.CAPEM = os.Getenv(names.EnvCABundle)

	level, err := parseLevel(cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	log := zap.New(zap.Level(level)).WithName("sidecar")

	if cfg.Supervise && os.Getenv(supervisor.EnvChild) == "" {
		// This process only supervises: the resolver is its child (package supervisor).
		signals := make(chan os.Signal, 2)
		signal.Notify(signals, syscall.SIGTERM, os.Interrupt)
		exe, err := os.Executable()
		if err != nil {
			log.Error(err, "finding the sidecar binary")
			os.Exit(1)
		}
		os.Exit(supervisor.Run(signals, supervisor.Options{
			Path: exe, Args: os.Args[1:], Env: os.Environ(),
			Stdout: os.Stdout, Stderr: os.Stderr, Log: log.WithName("supervisor"),
		}))
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := sidecar.Run(ctx, cfg, log); err != nil {
		log.Error(err, "sidecar failed")
		os.Exit(1)
	}
}

// parseLevel accepts error, info, debug or a verbosity number (2 is more verbose than debug).
func parseLevel(s string) (zapcore.Level, error) {
	switch s {
	case "error":
		return zapcore.ErrorLevel, nil
	case "info", "":
		return zapcore.InfoLevel, nil
	case "debug":
		return zapcore.DebugLevel, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--log-level %q: expected error, info, debug or a verbosity number >= 0", s)
	}
	return zapcore.Level(-n), nil
}

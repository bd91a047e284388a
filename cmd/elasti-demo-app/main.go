// Command elasti-demo-app is the small HTTP application of Elasti's demo and end-to-end tests: it
// waits --startup-delay before it listens (a stand-in for a real application's cold start) and
// serves hello, health, echo, streaming, WebSocket and metrics endpoints.
package main

import (
	"flag"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/elasti-dev/elasti/cmd/elasti-demo-app/internal/demoapp"
)

func main() {
	var cfg demoapp.Config
	flag.StringVar(&cfg.Addr, "listen", ":8080", "address to listen on")
	flag.DurationVar(&cfg.StartupDelay, "startup-delay", time.Second, "how long to wait before listening")
	flag.DurationVar(&cfg.ShutdownDelay, "shutdown-delay", 2*time.Second, "how long to keep serving after SIGTERM before closing the listener")
	flag.StringVar(&cfg.Message, "message", "hello from elasti-demo-app", "what / answers")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	log := zap.New(zap.UseFlagOptions(&opts)).WithName("demo-app")
	if err := demoapp.Run(ctrl.SetupSignalHandler(), log, cfg); err != nil {
		log.Error(err, "demo app stopped")
		os.Exit(1)
	}
}

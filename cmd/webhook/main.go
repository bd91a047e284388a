// Command webhook runs Elasti's mutating admission webhook: it injects the resolver sidecar into
// gateway pods of opted-in namespaces. See docs/webhook.md for the flags and the truth table.
package main

import (
	"flag"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/elasti-dev/elasti/webhook"
)

func main() {
	var o webhook.Options
	o.BindFlags(flag.CommandLine)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if err := webhook.Run(ctrl.SetupSignalHandler(), o); err != nil {
		ctrl.Log.WithName("setup").Error(err, "webhook stopped")
		os.Exit(1)
	}
}

// Command elasti-gateway is the demo's gateway: a plain reverse proxy that forwards every request to
// the in-cluster Service named by its Host header. It knows nothing about Elasti; the webhook injects
// the resolver sidecar beside it because its namespace selects it as a gateway.
package main

import (
	"flag"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/elasti-dev/elasti/cmd/elasti-gateway/internal/gateway"
	"github.com/elasti-dev/elasti/pkg/names"
)

func main() {
	var cfg gateway.Config
	flag.StringVar(&cfg.Addr, "listen", ":8080", "address to listen on")
	flag.StringVar(&cfg.ClusterDomain, "cluster-domain", names.DefaultClusterDomain, "the cluster's DNS domain")
	flag.StringVar(&cfg.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of Services named without one (default $POD_NAMESPACE)")
	flag.IntVar(&cfg.UpstreamPort, "upstream-port", 80, "Service port to forward to when the Host header names none")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	log := zap.New(zap.UseFlagOptions(&opts)).WithName("gateway")
	if err := gateway.Run(ctrl.SetupSignalHandler(), log, cfg); err != nil {
		log.Error(err, "gateway stopped")
		os.Exit(1)
	}
}

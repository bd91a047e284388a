//go:build ignore

// Command coredns is the cluster DNS of Elasti's local cluster: CoreDNS with only the plugins a
// cluster-internal resolver needs. There is deliberately no forward plugin, so no query ever
// leaves the machine.
//
// This file is not part of the elasti module (note the ignore build constraint, which also keeps
// CoreDNS's dependencies out of go.mod): hack/coredns/build.sh copies it into a throwaway module
// under $ELASTI_CACHE/coredns/<version> and builds it there.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// The plugins, registered by import; dnsserver.Directives below fixes their order.
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	// Same relative order as CoreDNS's plugin.cfg, restricted to what is compiled in.
	dnsserver.Directives = []string{
		"errors",
		"log",
		"health",
		"ready",
		"kubernetes",
		"cache",
		"loadbalance",
	}
	coremain.Run()
}

//go:build ignore

// Command coredns is the CoreDNS of the locally built kind node image (hack/kind/node-image.sh):
// the plugins the Corefile that kubeadm writes uses, so that CoreDNS starts with kubeadm's own
// configuration. hack/cluster/kind.sh then replaces that Corefile with one without forward (as
// on the local cluster, no query leaves the machine); forward, loop and reload are compiled in
// only so that kubeadm's first configuration loads.
//
// Not part of the elasti module: hack/coredns/build.sh kubeadm builds it in a throwaway module.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	// Same relative order as CoreDNS's plugin.cfg, restricted to what is compiled in
	// ("prometheus" is the directive of the metrics plugin).
	dnsserver.Directives = []string{
		"reload",
		"errors",
		"log",
		"health",
		"ready",
		"prometheus",
		"loop",
		"kubernetes",
		"forward",
		"cache",
		"loadbalance",
	}
	coremain.Run()
}

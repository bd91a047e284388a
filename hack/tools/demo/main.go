// Command demo is the cluster half of `make demo`: hack/demo.sh brings the cluster up, builds and
// loads the images and installs Elasti, then runs this (through hack/cluster/on-node.sh, so that
// on kind it runs inside the node, where ClusterIPs answer). It applies the demo (demo.yaml:
// namespace elasti-demo opted in, a gateway, demo-app and its ElastiService), scales the app to
// zero by hand, wakes it with a request through the gateway and, unless -traefik=false, does the
// same through Traefik with an external host (docs/demo.md). Every wait is one of the e2e
// framework's (test/e2e/framework), so the demo and the suite agree on what "proxy mode" or
// "Traefik serves the Ingress" means. It ends with the table of timings, the shell's included.
//
//	demo [-traefik=false] [-timing 'LABEL=SECONDS']... [-image NAME=ID]...
//
// -image gives, per Elasti image name (operator, gateway, ...), an image ID the runtime now has
// for its tag: a Deployment whose pods run another ID of an elasti/* image is rolled out again
// (an image re-imported under the same tag does not restart running pods by itself).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/elasti-dev/elasti/test/e2e/framework"
)

func main() {
	traefik := flag.Bool("traefik", true, "also wake the app through Traefik with an external host (steps 8-10)")
	var before timings
	flag.Var(&before, "timing", "a timing of the steps before this one, LABEL=SECONDS (repeatable; printed first in the table)")
	images := imageIDs{}
	flag.Var(images, "image", "NAME=ID: an image ID the runtime has for elasti/NAME (repeatable)")
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env, err := framework.NewEnv(framework.ConfigFromEnv())
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	d := newDemo(env, os.Stderr, images)
	d.timings = before
	if err := d.run(ctx, *traefik); err != nil {
		d.logf("ERROR: %v", err)
		d.dump(context.WithoutCancel(ctx))
		os.Exit(1)
	}
	d.report()
}

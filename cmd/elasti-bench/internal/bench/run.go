package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// bencher carries one run's state.
type bencher struct {
	opts  Options
	env   *framework.Env
	ns    *framework.Namespace
	out   io.Writer
	fresh *http.Client // through the gateway, a new connection per request
	// keepAlive goes through the gateway too, reusing connections.
	keepAlive *http.Client
	start     time.Time
	// traefik is the ingress arm (nil without -ingress): Traefik in its own namespace.
	traefik   *framework.Traefik
	traefikNS *framework.Namespace
}

func (b *bencher) logf(format string, args ...any) {
	fmt.Fprintf(b.out, "[%7.1fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

// Run sets up, measures, prints the table and writes the files asked for.
func Run(ctx context.Context, out io.Writer, o Options) error {
	env, err := framework.NewEnv(framework.ConfigFromEnv())
	if err != nil {
		return err
	}
	if err := env.Preflight(ctx); err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	b := &bencher{opts: o, env: env, out: out, start: time.Now()}
	rep := &Report{Started: b.start.UTC(), Options: o, Machine: describeMachine(ctx, env)}
	if err := b.setup(ctx); err != nil {
		return err
	}
	defer b.teardown()
	if err := b.measure(ctx, rep); err != nil {
		return err
	}
	rep.DurationS = round3(time.Since(b.start).Seconds())
	rep.Targets = evaluate(rep)
	return rep.write(out, o)
}

// setup creates the opted-in namespace and its gateway (one pod, so one sidecar).
func (b *bencher) setup(ctx context.Context) error {
	ns, err := b.env.CreateNamespace(ctx, "elasti-bench", framework.NamespaceOptions{OptIn: true})
	b.ns = ns
	if err != nil {
		return err
	}
	if err := ns.DeployGateway(ctx, "gateway", 1, nil); err != nil {
		return err
	}
	pods, err := ns.GatewayPods(ctx, "gateway")
	if err != nil {
		return err
	}
	b.fresh = framework.GatewayClient(net.JoinHostPort(pods[0].Status.PodIP, "8080"), false)
	b.keepAlive = framework.GatewayClient(net.JoinHostPort(pods[0].Status.PodIP, "8080"), true)
	b.logf("namespace %s with gateway pod %s", ns.Name, pods[0].Name)
	return nil
}

func (b *bencher) teardown() {
	if b.ns == nil || b.opts.Keep {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if b.traefik != nil {
		if err := b.traefik.Delete(ctx); err != nil {
			b.logf("cleanup: %v", err)
		}
	}
	for _, ns := range []*framework.Namespace{b.traefikNS, b.ns} {
		if ns == nil {
			continue
		}
		if err := ns.Delete(ctx); err != nil {
			b.logf("cleanup: %v", err)
		}
	}
}

// setupTraefik deploys Traefik as an ordinary ingress controller in its own opted-in namespace.
func (b *bencher) setupTraefik(ctx context.Context) error {
	ns, err := b.env.CreateNamespace(ctx, "elasti-bench-edge", framework.NamespaceOptions{OptIn: true, GatewaySelector: framework.TraefikGatewaySelector})
	b.traefikNS = ns
	if err != nil {
		return err
	}
	b.traefik, err = ns.DeployTraefik(ctx)
	if err != nil {
		return fmt.Errorf("deploying Traefik (image %s, built by hack/traefik/build.sh): %w", b.env.Config.TraefikImage, err)
	}
	b.logf("Traefik ready in %s", ns.Name)
	return nil
}

// ingressHost is the external host name of an app behind Traefik.
func ingressHost(app *framework.App) string { return app.Name + ".bench.example.test" }

// addIngress routes ingressHost(app) to the app through Traefik (no Elasti annotation) and waits
// until Traefik serves it.
func (b *bencher) addIngress(ctx context.Context, app *framework.App) error {
	if _, err := b.ns.CreateIngress(ctx, framework.IngressOptions{Name: app.Name, Host: ingressHost(app), Service: app.Name, PortName: "http"}); err != nil {
		return err
	}
	_, err := b.traefik.WaitIngress(ctx, b.ns.Name, app.Name)
	return err
}

// deployApps creates n demo apps with ElastiServices and waits for serve mode.
func (b *bencher) deployApps(ctx context.Context, prefix string, n int) ([]*framework.App, error) {
	var apps []*framework.App
	for i := range n {
		app, err := b.ns.DeployApp(ctx, framework.AppOptions{Name: fmt.Sprintf("%s-%02d", prefix, i), StartupDelay: b.opts.StartupDelay})
		if err != nil {
			return nil, err
		}
		if err := b.env.CreateElastiService(ctx, framework.ElastiServiceFor(app)); err != nil {
			return nil, err
		}
		apps = append(apps, app)
	}
	return apps, waitServe(ctx, apps)
}

func (b *bencher) measure(ctx context.Context, rep *Report) error {
	rep.Memory.SidecarIdle = b.sidecarRSS(ctx)
	rep.Memory.Operator = b.operatorRSS(ctx)
	b.logf("idle memory read")
	single, err := b.deployApps(ctx, "single", 1)
	if err != nil {
		return err
	}
	if rep.ColdStart1, err = b.coldStarts(ctx, single, b.opts.Rounds); err != nil {
		return err
	}
	if b.opts.Ingress {
		if err := b.setupTraefik(ctx); err != nil {
			return err
		}
		if err := b.addIngress(ctx, single[0]); err != nil {
			return err
		}
		b.logf("cold starts through Traefik with an external host")
		if rep.ColdStartIngress, err = b.coldStartsVia(ctx, single, b.opts.Rounds, viaTraefik); err != nil {
			return err
		}
	}
	if err := b.measureForward(ctx, rep, single[0]); err != nil {
		return err
	}
	rep.Memory.SidecarAfterLoad = b.sidecarRSS(ctx)
	if b.opts.ObserveDuration > 0 {
		if err := b.measureObservation(ctx, rep); err != nil {
			return err
		}
	}
	fleet, err := b.deployApps(ctx, "fleet", b.opts.Services)
	if err != nil {
		return err
	}
	rep.ColdStartN, err = b.coldStarts(ctx, fleet, b.opts.FleetRounds)
	return err
}

func (b *bencher) measureForward(ctx context.Context, rep *Report, app *framework.App) error {
	pods, err := b.env.PodsBySelector(ctx, b.ns.Name, "app="+app.Name)
	if err != nil || len(pods) == 0 {
		return fmt.Errorf("the warm app has no pod: %v", err)
	}
	gws, err := b.ns.GatewayPods(ctx, "gateway")
	if err != nil {
		return err
	}
	url := framework.ServiceURL(b.ns.Name, app.Name, 0, "/")
	rep.Forward, err = b.forward(ctx, url,
		net.JoinHostPort(pods[0].Status.PodIP, fmt.Sprint(app.Port)),
		net.JoinHostPort(gws[0].Status.PodIP, fmt.Sprint(names.DefaultProxyPort)))
	return err
}

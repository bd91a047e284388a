package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// demoManifest is the demo: namespace elasti-demo (opted in, gateway selector app=gateway), the
// gateway, demo-app with its Service, and its ElastiService.
//
//go:embed demo.yaml
var demoManifest string

const (
	demoNS     = "elasti-demo"
	appName    = "demo-app"
	gatewaySel = "app=gateway"
	// fieldManager owns what the demo applies (server-side apply, so every run is the same).
	fieldManager = "elasti-demo"
)

// demo holds the clients and the rows of the timings table.
type demo struct {
	env     *framework.Env
	ns      *framework.Namespace
	app     *framework.App
	w       io.Writer
	images  imageIDs
	timings timings
}

func newDemo(env *framework.Env, w io.Writer, images imageIDs) *demo {
	ns := env.ExistingNamespace(demoNS)
	return &demo{env: env, ns: ns, app: &framework.App{NS: ns, Name: appName, Port: 8080}, w: w, images: images}
}

// run is the demo, step by step (the numbers continue hack/demo.sh's 1-3).
func (d *demo) run(ctx context.Context, traefik bool) error {
	t := time.Now()
	restarted, err := d.restartStale(ctx, d.env.Config.SystemNamespace)
	if err != nil {
		return err
	}
	if restarted {
		d.since("Elasti's pods rolled out again on the new images", t)
	}
	if err := d.deploy(ctx); err != nil {
		return err
	}
	if err := d.scaleToZero(ctx, 6); err != nil {
		return err
	}
	if err := d.wake(ctx); err != nil {
		return err
	}
	if !traefik {
		return nil
	}
	tr, err := d.deployTraefik(ctx)
	if err != nil {
		return err
	}
	if err := d.scaleToZero(ctx, 9); err != nil {
		return err
	}
	return d.wakeThroughTraefik(ctx, tr)
}

// deploy is steps 4 and 5: the demo applied, gateway and app ready in serve mode, and the
// gateway pod's sidecar shown.
func (d *demo) deploy(ctx context.Context) error {
	d.say("4. demo namespace, gateway, app and ElastiService")
	t := time.Now()
	if err := d.env.ApplyAll(ctx, demoManifest, nil, fieldManager); err != nil {
		return err
	}
	if err := d.optedIn(ctx, d.ns.Name); err != nil {
		return err
	}
	d.since("namespace opted in (webhook mirrored the annotation to the label)", t)
	gw, err := d.injected(ctx, d.ns, "gateway", gatewaySel)
	if err != nil {
		return err
	}
	if err := d.app.SetReplicas(ctx, 1); err != nil {
		return err
	}
	if _, err := d.restartStale(ctx, d.ns.Name); err != nil {
		return err
	}
	for _, name := range []string{"gateway", appName} {
		if err := d.rolledOut(ctx, d.ns.Name, name); err != nil {
			return err
		}
	}
	if _, err := d.app.WaitState(ctx, d.env.Config.Scale(60*time.Second), "serve mode", framework.InServeMode); err != nil {
		return err
	}
	d.since("gateway and app ready, ElastiService in serve mode", t)
	d.say("5. the resolver sidecar injected into the gateway pod")
	if gw, err = d.injected(ctx, d.ns, "gateway", gatewaySel); err != nil {
		return err
	}
	d.detail("%s", containers(gw))
	return nil
}

// optedIn waits until the webhook has mirrored the namespace's opt-in annotation onto the label
// its namespaceSelector sees.
func (d *demo) optedIn(ctx context.Context, ns string) error {
	return framework.Poll(ctx, d.env.Config.Scale(30*time.Second), 100*time.Millisecond, "label "+names.LabelInject+" on namespace "+ns,
		func(ctx context.Context) (bool, string, error) {
			n, err := d.env.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			return n.Labels[names.LabelInject] == names.InjectEnabled, fmt.Sprintf("labels %v", n.Labels), nil
		})
}

// scaleToZero is steps 6 and 9: the app scaled to 0 by hand, then the operator's reaction.
func (d *demo) scaleToZero(ctx context.Context, step int) error {
	d.say("%d. scale the app to zero (by hand: kubectl scale; the demo configures no trigger)", step)
	t := time.Now()
	if err := d.app.SetReplicas(ctx, 0); err != nil {
		return err
	}
	wait := d.env.Config.Scale(30 * time.Second)
	if _, err := d.app.WaitState(ctx, wait, "mode proxy", func(s *framework.State) bool { return s.Mode == elastiv1.ModeProxy }); err != nil {
		return err
	}
	d.since("ElastiService in proxy mode", t)
	if _, err := d.app.WaitState(ctx, wait, "proxy mode with the sidecars in Elasti's slice", framework.InProxyMode); err != nil {
		return err
	}
	if err := d.acknowledged(ctx); err != nil {
		return err
	}
	d.since("proxy EndpointSlice points at the sidecar, sidecar acknowledged", t)
	if err := framework.Poll(ctx, d.env.Config.Scale(60*time.Second), 100*time.Millisecond, "the app's pods to be gone", d.noAppPods); err != nil {
		return err
	}
	d.since("app pods gone", t)
	return d.showSlices(ctx)
}

// acknowledged waits until the gateway's sidecar has acknowledged demo-app: its Lease
// elasti-acks-<pod uid> in the system namespace has the annotation
// <namespace>.ack.elasti.dev/demo-app (docs/stream.md).
func (d *demo) acknowledged(ctx context.Context) error {
	key := d.ns.Name + ".ack." + names.Group + "/" + appName
	return framework.Poll(ctx, d.env.Config.Scale(30*time.Second), 100*time.Millisecond, "the gateway's sidecar to acknowledge "+appName,
		func(ctx context.Context) (bool, string, error) {
			pods, err := d.env.PodsBySelector(ctx, d.ns.Name, gatewaySel)
			if err != nil {
				return false, "", err
			}
			gw, ok := livePod(pods)
			if !ok {
				return false, "no live gateway pod", nil
			}
			lease, err := d.env.Kube.CoordinationV1().Leases(d.env.Config.SystemNamespace).Get(ctx, "elasti-acks-"+string(gw.UID), metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			_, acked := lease.Annotations[key]
			return acked, fmt.Sprintf("lease %s annotations %v", lease.Name, lease.Annotations), nil
		})
}

func (d *demo) noAppPods(ctx context.Context) (bool, string, error) {
	pods, err := d.env.PodsBySelector(ctx, d.ns.Name, "app="+appName)
	if err != nil {
		return false, "", err
	}
	return len(pods) == 0, fmt.Sprintf("%d pods", len(pods)), nil
}

// showSlices prints demo-app's EndpointSlices: Elasti's points at the sidecars.
func (d *demo) showSlices(ctx context.Context) error {
	list, err := d.env.Kube.DiscoveryV1().EndpointSlices(d.ns.Name).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + appName})
	if err != nil {
		return fmt.Errorf("listing the EndpointSlices of %s: %w", appName, err)
	}
	for _, s := range list.Items {
		var ports, eps []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d", deref(p.Name), deref(p.Port)))
		}
		for _, ep := range s.Endpoints {
			eps = append(eps, fmt.Sprintf("%v(ready=%v)", ep.Addresses, ep.Conditions.Ready == nil || *ep.Conditions.Ready))
		}
		d.detail("slice %s managed-by %s %s ports %v endpoints %v", s.Name, s.Labels["endpointslice.kubernetes.io/managed-by"], s.AddressType, ports, eps)
	}
	return nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// wake is step 7: a request through the gateway's ClusterIP wakes the app.
func (d *demo) wake(ctx context.Context) error {
	d.say("7. a request through the gateway wakes the app")
	svc, err := d.env.Kube.CoreV1().Services(d.ns.Name).Get(ctx, "gateway", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the gateway Service: %w", err)
	}
	ip := svc.Spec.ClusterIP
	t := time.Now()
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	resp, err := framework.Get(rctx, framework.GatewayClient(ip+":80", false), "http://"+appName+"/")
	if err != nil {
		return fmt.Errorf("the waking request through the gateway: %w", err)
	}
	if resp.Status != 200 {
		return fmt.Errorf("the waking request answered %d: %s", resp.Status, resp.Body)
	}
	d.detail("curl -H 'Host: %s' http://%s/  ->  %d %s", appName, ip, resp.Status, resp.Body)
	d.record("waking request, total (client)", resp.Duration)
	d.record("waking request, held by the sidecar (Server-Timing elasti-hold)", framework.HeldFor(resp.Header))
	if _, err := d.app.WaitState(ctx, d.env.Config.Scale(60*time.Second), "serve mode", framework.InServeMode); err != nil {
		return err
	}
	d.since("ElastiService back in serve mode (after the request was sent)", t)
	d.showFirstAnswer(ctx)
	return nil
}

// showFirstAnswer prints the app's log line of its first answer (how long after its start).
func (d *demo) showFirstAnswer(ctx context.Context) {
	pods, err := d.env.PodsBySelector(ctx, d.ns.Name, "app="+appName)
	if err != nil {
		return
	}
	for _, p := range pods {
		b, err := d.env.Kube.CoreV1().Pods(d.ns.Name).GetLogs(p.Name, &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
		if err != nil {
			continue
		}
		for _, l := range firstAnswers(string(b)) {
			d.detail("app: %s", l)
		}
	}
}

// dump prints what to look at after a failure: the demo namespace's pods, ElastiService, slices
// and Events.
func (d *demo) dump(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	d.ns.Dump(ctx, d.w)
}

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// ingressApp deploys an app with an ElastiService in f's namespace and an Ingress (no annotation)
// routing host to it through Traefik, then scales it to zero and waits until Traefik sends the
// host to the sidecars: the Service's proxy slice, each sidecar at the sidecar port allocated to
// the Service port.
func ingressApp(t *testing.T, f *fixture, tr *framework.Traefik, o framework.AppOptions, host string, edit func(*elastiv1.ElastiService)) *framework.App {
	t.Helper()
	app := f.app(o, edit)
	if _, err := f.ns.CreateIngress(f.ctx, framework.IngressOptions{Name: app.Name, Host: host, Service: app.Name, PortName: "http"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.WaitIngress(f.ctx, f.ns.Name, app.Name); err != nil {
		t.Fatal(err)
	}
	f.toZero(app)
	waitTraefikOnSidecars(t, f, tr, app)
	return app
}

// waitTraefikOnSidecars waits until Traefik's servers for the app are exactly the proxy slice's
// sidecars at the app's sidecar port.
func waitTraefikOnSidecars(t *testing.T, f *fixture, tr *framework.Traefik, app *framework.App) {
	t.Helper()
	es, err := app.GetElastiService(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	port, ok := es.Status.SidecarPortFor("http")
	if !ok {
		t.Fatalf("ElastiService %s/%s has no sidecar port for Service port http: %+v", f.ns.Name, app.Name, es.Status.SidecarPorts)
	}
	st, err := app.State(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, ip := range st.ProxyAddresses() {
		want = append(want, fmt.Sprintf("http://%s:%d", ip, port))
	}
	slices.Sort(want)
	if _, err := tr.WaitServers(f.ctx, f.ns.Name, app.Name, "http", fmt.Sprintf("the sidecars %v", want), func(got []string) bool {
		return slices.Equal(got, want)
	}); err != nil {
		t.Fatal(err)
	}
}

// TestIngressExternalHost: Traefik, an ordinary ingress controller that reads EndpointSlices and
// connects to endpoint addresses with the client's external Host, fronts Services Elasti scales to
// zero, with no Elasti-specific annotation on any Ingress:
//   - an external hostname at zero answers 200 on the first try and wakes the app;
//   - 500 concurrent requests at zero all answer 200;
//   - two namespaces with a Service of the same name, both at zero, each reached through its own
//     Ingress: the right app answers each time;
//   - a header naming another namespace's internal Service has no effect (it stays at zero);
//   - the in-cluster name through the existing gateway still works.
func TestIngressExternalHost(t *testing.T) {
	f := setup(t, "ingress", 1)
	start := time.Now()
	tr := setupTraefik(t, f.ctx, "ingress")
	step(t, start, "Traefik ready in %s (ClusterIP %s)", tr.NS.Name, tr.ClusterIP)

	t.Run("external host at zero: 200 on the first try", func(t *testing.T) {
		app := ingressApp(t, f, tr, framework.AppOptions{Name: "shop"}, "shop.example.test", nil)
		r, err := tr.Get(f.ctx, "shop.example.test", "/")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusOK || !strings.Contains(r.Body, framework.AppMessage("shop")) {
			t.Fatalf("GET http://shop.example.test/ at zero through Traefik: status %d body %.300q", r.Status, r.Body)
		}
		step(t, start, "woken through Traefik: %d in %s (held %s)", r.Status, r.Duration.Round(time.Millisecond), framework.HeldFor(r.Header))
		if _, err := app.WaitState(f.ctx, env.Config.Scale(60*time.Second), "serve mode after the wake-up", framework.InServeMode); err != nil {
			t.Fatal(err)
		}
		// The in-cluster name through the existing gateway, at zero again.
		f.toZero(app)
		r = f.mustGet(f.url(app, 0, "/"), framework.AppMessage("shop"))
		step(t, start, "in-cluster name through the gateway at zero: %d in %s", r.Status, r.Duration.Round(time.Millisecond))
	})

	t.Run("burst of 500 at zero through Traefik", func(t *testing.T) {
		app := ingressApp(t, f, tr, framework.AppOptions{Name: "burst", StartupDelay: time.Second}, "burst.example.test", nil)
		res := framework.Burst(f.ctx, tr.Client(false), "http://burst.example.test/", 500, framework.AppMessage("burst"))
		step(t, start, "500 concurrent requests through Traefik: %s", res)
		if res.OK != 500 {
			t.Fatalf("%d of 500 answered 200: %s", res.OK, res)
		}
		if _, err := app.WaitState(f.ctx, env.Config.Scale(60*time.Second), "serve mode", framework.InServeMode); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("same Service name in two namespaces", func(t *testing.T) {
		other := setup(t, "ingress-twin", 0)
		hosts := map[*fixture]string{f: "api-a.example.test", other: "api-b.example.test"}
		apps := map[*fixture]*framework.App{}
		for fx, host := range hosts {
			apps[fx] = ingressApp(t, fx, tr, framework.AppOptions{Name: "api", Message: "api of " + fx.ns.Name}, host, nil)
		}
		for i := range 6 {
			for fx, host := range hosts {
				r, err := tr.Get(f.ctx, host, "/")
				if err != nil {
					t.Fatal(err)
				}
				if want := "api of " + fx.ns.Name; r.Status != http.StatusOK || !strings.Contains(r.Body, want) {
					t.Fatalf("request %d to %s: status %d body %.300q, want %q", i, host, r.Status, r.Body, want)
				}
			}
		}
		step(t, start, "each of the two Services named api answered its own host 6 times")
		// The same short name from inside each namespace, through that namespace's sidecars.
		for fx := range hosts {
			if fx.gw == nil {
				continue
			}
			fx.toZero(apps[fx])
			fx.mustGet(fx.url(apps[fx], 0, "/"), "api of "+fx.ns.Name)
		}
	})

	t.Run("a header naming another Service has no effect", func(t *testing.T) {
		internal := setup(t, "ingress-internal", 0)
		secret := internal.app(framework.AppOptions{Name: "internal"}, nil)
		internal.toZero(secret)
		ingressApp(t, f, tr, framework.AppOptions{Name: "public"}, "public.example.test", nil)
		decorator := fmt.Sprintf("internal.%s.svc.cluster.local:80/*", internal.ns.Name)
		for _, h := range []http.Header{
			{"X-Envoy-Decorator-Operation": {decorator}},
			{"X-Forwarded-Host": {"internal." + internal.ns.Name}},
		} {
			req, _ := http.NewRequestWithContext(f.ctx, http.MethodGet, "http://public.example.test/", nil)
			for k, v := range h {
				req.Header[k] = v
			}
			resp, err := tr.Client(false).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(resp)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, framework.AppMessage("public")) {
				t.Fatalf("GET public.example.test with %v: status %d body %.300q, want the public app", h, resp.StatusCode, body)
			}
		}
		time.Sleep(3 * time.Second) // a wake-up of internal would have started by now
		st, err := secret.State(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.SpecReplicas != 0 {
			t.Fatalf("the internal Service was woken by a header: %s", st)
		}
		step(t, start, "headers naming %s/internal reached the public app only; internal still at zero (%s)", internal.ns.Name, st)
	})
}

// TestIngressFlips: steady traffic through Traefik to an external host across five
// serve→proxy→zero→serve cycles (a trigger that always says idle, cooldown 0): 0 failed.
func TestIngressFlips(t *testing.T) {
	f := setup(t, "ingress-flips", 0)
	p := requirePrometheus(t, f.ctx)
	start := time.Now()
	tr := setupTraefik(t, f.ctx, "ingress-flips")
	app := f.app(framework.AppOptions{Name: "app", StartupDelay: 200 * time.Millisecond}, nil)
	if _, err := f.ns.CreateIngress(f.ctx, framework.IngressOptions{Name: "app", Host: "flips.example.test", Service: app.Name, PortName: "http"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.WaitIngress(f.ctx, f.ns.Name, "app"); err != nil {
		t.Fatal(err)
	}
	load := framework.StartLoad(f.ctx, tr.Client(true), "http://flips.example.test/", 4, 50*time.Millisecond, framework.AppMessage("app"))
	defer load.Stop()
	f.alwaysIdle(app, p)
	flips, err := countFlips(f.ctx, app, 5, env.Config.Scale(5*time.Minute), func(n int, st *framework.State) {
		ok, failed := load.Snapshot()
		step(t, start, "flip %d (%s): %d ok, %d failed so far", n, st.Mode, ok, failed)
	})
	res := load.Stop()
	step(t, start, "%d flips through Traefik; load: %s", flips, res)
	if err != nil {
		t.Error(err)
	}
	if res.Failures() != 0 || res.OK == 0 {
		t.Fatalf("%d requests failed (%d ok) during %d flips: %s", res.Failures(), res.OK, flips, res)
	}
}

// readAll reads and closes a response body.
func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestIngressGatewayChurn: deleting gateway pods in one namespace never stalls traffic that
// Traefik, in another namespace, sends to a Service in proxy mode (every proxy slice lists every
// gateway's sidecar). The Service is kept in proxy mode with its own pod serving: its
// ElastiService's target is an empty Deployment "idle" at zero that a ValidatingAdmissionPolicy
// of the test keeps from being scaled, so the sidecars forward each request at once and Traefik
// spreads the load over them and the pod. Two gateway pods of the other namespace are deleted in
// turn under steady keep-alive load: each leaves the slices (not ready) before its sidecar stops
// accepting, its replacement is listed once it has opened the Service's port; 0 requests fail
// and none takes longer than 2 s.
func TestIngressGatewayChurn(t *testing.T) { ingressGatewayChurn(t, "churn", 0) }

// TestGatewayChurnAtScale (issue 17) is TestIngressGatewayChurn with a fleet of 200 more
// ElastiServices at zero present (their Deployments, Services and proxy slices): each gateway
// pod that goes or comes rewrites every one of their slices, and the Service under load must not
// notice (the operator queues the slices of Services with recent traffic first). It also reports
// how long the fleet's slices took to drop the deleted pod.
func TestGatewayChurnAtScale(t *testing.T) {
	if os.Getenv("E2E_FLEET_CHURN") == "" {
		framework.Skip(t, "%s", fleetChurnKnownFailure)
	}
	ingressGatewayChurn(t, "fleetchurn", 200)
}

// fleetChurnKnownFailure is why TestGatewayChurnAtScale is skipped unless asked for
// (test/e2e/skips.allow, docs/e2e.md "Skips").
const fleetChurnKnownFailure = "known to fail, issue 17: with 200 Services at zero, a gateway pod deleted under load through Traefik still cost 1 request of 1,871 (502) in CI's run of af71ac4, after three local runs of three passed with active Services queued first (four of six had failed before); E2E_FLEET_CHURN=1 runs it"

// ingressGatewayChurn: see TestIngressGatewayChurn; fleet > 0 adds that many ElastiServices at
// zero in a namespace of their own first.
func ingressGatewayChurn(t *testing.T, prefix string, fleet int) {
	x := setup(t, prefix+"-x", 2)
	f := setup(t, prefix+"-y", 0)
	start := time.Now()
	var fl *fleetNS
	if fleet > 0 {
		fl = createFleet(t, f.ctx, prefix, fleet)
		step(t, start, "fleet: %d ElastiServices at zero in %s, all in proxy mode", fleet, fl.name)
	}
	tr := setupTraefik(t, f.ctx, prefix)
	if _, err := f.ns.DeployApp(f.ctx, framework.AppOptions{Name: "idle", ZeroReplicas: true}); err != nil {
		t.Fatal(err)
	}
	denyScale(t, f, "idle")
	app, err := f.ns.DeployApp(f.ctx, framework.AppOptions{Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ns.WaitDeploymentReady(f.ctx, app.Name, 1, env.Config.Scale(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	es := framework.ElastiServiceFor(app)
	es.Spec.ScaleTargetRef.Name = "idle" // at zero for ever: the Service stays in proxy mode
	if err := env.CreateElastiService(f.ctx, es); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ns.CreateIngress(f.ctx, framework.IngressOptions{Name: "app", Host: "churn.example.test", Service: "app", PortName: "http"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.WaitIngress(f.ctx, f.ns.Name, "app"); err != nil {
		t.Fatal(err)
	}
	xPods, err := x.ns.GatewayPods(x.ctx, "gateway")
	if err != nil || len(xPods) != 2 {
		t.Fatalf("want 2 gateway pods in %s: %v", x.ns.Name, err)
	}
	st, err := app.WaitState(f.ctx, env.Config.Scale(60*time.Second), "proxy mode, the sidecars of "+x.ns.Name+"'s gateways ready", func(s *framework.State) bool {
		return s.Mode == elastiv1.ModeProxy && slices.Contains(s.ProxyAddresses(), xPods[0].Status.PodIP) && slices.Contains(s.ProxyAddresses(), xPods[1].Status.PodIP)
	})
	if err != nil {
		t.Fatal(err)
	}
	esNow, err := app.GetElastiService(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	port, ok := esNow.Status.SidecarPortFor("http")
	if !ok {
		t.Fatalf("no sidecar port for Service port http: %+v", esNow.Status.SidecarPorts)
	}
	sidecarServers := func(ips []string) []string {
		out := make([]string, 0, len(ips))
		for _, ip := range ips {
			out = append(out, fmt.Sprintf("http://%s:%d", ip, port))
		}
		return out
	}
	waitServers := func(want []string, gone string) {
		t.Helper()
		if _, err := tr.WaitServers(f.ctx, f.ns.Name, app.Name, "http", fmt.Sprintf("the sidecars %v, not %s", want, gone), func(got []string) bool {
			for _, w := range want {
				if !slices.Contains(got, w) {
					return false
				}
			}
			return gone == "" || !slices.Contains(got, gone)
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitServers(sidecarServers(st.ProxyAddresses()), "")
	step(t, start, "Traefik sends churn.example.test to the sidecars %v and the app's pod", st.ProxyAddresses())
	load := framework.StartLoad(f.ctx, tr.Client(true), "http://churn.example.test/", 4, 20*time.Millisecond, framework.AppMessage("app"))
	defer load.Stop()
	time.Sleep(3 * time.Second)
	for round := range 2 {
		pods, err := x.ns.GatewayPods(x.ctx, "gateway")
		if err != nil || len(pods) == 0 {
			t.Fatalf("gateway pods of %s: %v", x.ns.Name, err)
		}
		victim := pods[0]
		if err := env.Kube.CoreV1().Pods(x.ns.Name).Delete(x.ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		var dropped func() (time.Duration, error)
		if fl != nil {
			dropped = fl.watchDrop(f.ctx, victim.Status.PodIP)
		}
		step(t, start, "round %d: deleted gateway pod %s/%s (%s)", round, x.ns.Name, victim.Name, victim.Status.PodIP)
		// The replacement listed and the victim gone. Other namespaces' sidecars are not counted:
		// with a fleet of 200 just created, a gateway elsewhere (the demo's) may still be
		// acknowledging them and join the slice later (CI's run of 47bc3cc waited for an exact
		// count that had grown from 3 to 5).
		st, err := app.WaitState(f.ctx, env.Config.Scale(90*time.Second), fmt.Sprintf("%s's gateways listed again, %s not among them", x.ns.Name, victim.Status.PodIP), func(s *framework.State) bool {
			if slices.Contains(s.ProxyAddresses(), victim.Status.PodIP) {
				return false
			}
			now, err := x.ns.GatewayPods(x.ctx, "gateway")
			if err != nil || len(now) != len(xPods) {
				return false
			}
			for _, p := range now {
				if p.Status.PodIP == "" || !slices.Contains(s.ProxyAddresses(), p.Status.PodIP) {
					return false
				}
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		waitServers(sidecarServers(st.ProxyAddresses()), fmt.Sprintf("http://%s:%d", victim.Status.PodIP, port))
		ok, failed := load.Snapshot()
		step(t, start, "round %d: Traefik sends to %v; %d ok, %d failed so far", round, st.ProxyAddresses(), ok, failed)
		if dropped != nil {
			d, err := dropped()
			if err != nil {
				t.Fatal(err)
			}
			step(t, start, "round %d: none of the fleet's %d proxy slices listed %s ready %s after the deletion", round, fl.n, victim.Status.PodIP, d.Round(time.Millisecond))
		}
	}
	time.Sleep(2 * time.Second)
	res := load.Stop()
	slowest := slices.Max(append(res.Durations, 0))
	step(t, start, "load through Traefik across two gateway deletions in another namespace: %s; slowest %s", res, slowest)
	if res.Failures() != 0 || res.OK == 0 {
		t.Fatalf("%d requests failed (%d ok): %s", res.Failures(), res.OK, res)
	}
	if slowest > 2*time.Second {
		t.Fatalf("a request took %s (limit 2 s)", slowest)
	}
}

// denyScale keeps the Deployment name of f's namespace from being scaled (its /scale subresource
// cannot be updated), with a ValidatingAdmissionPolicy and binding removed at the end.
func denyScale(t *testing.T, f *fixture, name string) {
	t.Helper()
	policyName := "e2e-deny-scale-" + f.ns.Name
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: policyName},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
						Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"*"},
							Resources: []string{"deployments/scale"}},
					},
				}},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: fmt.Sprintf("request.namespace != %q || request.name != %q", f.ns.Name, name),
				Message:    "e2e: " + name + " stays at zero",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policyName},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policyName,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	api := env.Kube.AdmissionregistrationV1()
	if _, err := api.ValidatingAdmissionPolicies().Create(f.ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.ValidatingAdmissionPolicyBindings().Create(f.ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = api.ValidatingAdmissionPolicyBindings().Delete(context.Background(), policyName, metav1.DeleteOptions{})
		_ = api.ValidatingAdmissionPolicies().Delete(context.Background(), policyName, metav1.DeleteOptions{})
	})
	// The policy takes effect once the API server has loaded it: wait until a scale is refused.
	if err := framework.Poll(f.ctx, 30*time.Second, 250*time.Millisecond, "the API server refusing to scale "+name, func(ctx context.Context) (bool, string, error) {
		sc, err := env.Kube.AppsV1().Deployments(f.ns.Name).GetScale(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		_, err = env.Kube.AppsV1().Deployments(f.ns.Name).UpdateScale(ctx, name, sc, metav1.UpdateOptions{})
		return err != nil && strings.Contains(err.Error(), "stays at zero"), fmt.Sprint(err), nil
	}); err != nil {
		t.Fatal(err)
	}
}

//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

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

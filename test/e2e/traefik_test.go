//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// setupTraefik deploys Traefik (testdata/traefik.yaml, image built by hack/traefik/build.sh) in
// its own namespace "e2e-<prefix>-edge-NNNNN", opted in so that its pod gets the resolver
// sidecar, and removes it at the end (after printing its state and logs if the test failed).
// Scenarios put their apps and Ingresses in their own namespace: Traefik watches them all.
func setupTraefik(t *testing.T, ctx context.Context, prefix string) *framework.Traefik {
	t.Helper()
	ns, err := env.CreateNamespace(ctx, "e2e-"+prefix+"-edge", framework.NamespaceOptions{
		OptIn: true, GatewaySelector: framework.TraefikGatewaySelector,
	})
	if ns != nil {
		t.Cleanup(func() { cleanupNamespace(t, ns) })
	}
	if err != nil {
		t.Fatalf("creating Traefik's namespace: %v", err)
	}
	tr, err := ns.DeployTraefik(ctx)
	if tr != nil {
		t.Cleanup(func() { cleanupTraefik(t, tr) })
	}
	if err != nil {
		t.Fatalf("deploying Traefik (image %s, built by hack/traefik/build.sh and loaded by `make e2e-images`): %v", env.Config.TraefikImage, err)
	}
	return tr
}

// cleanupTraefik runs before cleanupNamespace of Traefik's namespace (cleanups run last-in
// first-out): on failure it prints what Traefik routes and its logs, then removes its
// cluster-scoped objects.
func cleanupTraefik(t *testing.T, tr *framework.Traefik) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if t.Failed() && tr.ClusterIP != "" {
		var b strings.Builder
		fmt.Fprintf(&b, "---- Traefik in %s ----\n", tr.NS.Name)
		tr.Dump(ctx, &b)
		t.Log("\n" + b.String())
	}
	if os.Getenv("E2E_KEEP_NAMESPACES") != "" {
		return
	}
	if err := tr.Delete(ctx); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// TestTraefikRoutesWarmService proves the Traefik helpers, without Elasti in the path: a warm
// Deployment and Service with no ElastiService, an Ingress (no annotation) for the external host
// warm.example.test; Traefik routes it to the pod and answers 200 with the app's body, and 404
// for a host no Ingress names.
func TestTraefikRoutesWarmService(t *testing.T) {
	f := setup(t, "traefik-warm", 0)
	start := time.Now()
	tr := setupTraefik(t, f.ctx, "traefik-warm")
	step(t, start, "Traefik ready in %s (ClusterIP %s)", tr.NS.Name, tr.ClusterIP)

	app, err := f.ns.DeployApp(f.ctx, framework.AppOptions{Name: "warm"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ns.WaitDeploymentReady(f.ctx, app.Name, 1, env.Config.Scale(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	const host = "warm.example.test"
	if _, err := f.ns.CreateIngress(f.ctx, framework.IngressOptions{Name: "warm", Host: host, Service: app.Name}); err != nil {
		t.Fatal(err)
	}
	services, err := tr.WaitIngress(f.ctx, f.ns.Name, "warm")
	if err != nil {
		t.Fatal(err)
	}
	step(t, start, "Traefik serves the Ingress: %s", services[0])

	pods, err := env.PodsBySelector(f.ctx, f.ns.Name, "app="+app.Name)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("http://%s:%d", pods[0].Status.PodIP, app.Port)}
	if got := services[0].Servers(); !slices.Equal(got, want) {
		t.Fatalf("Traefik sends %s to %v, want the app's pod %v", host, got, want)
	}

	r, err := tr.Get(f.ctx, host, "/")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusOK || !strings.Contains(r.Body, framework.AppMessage(app.Name)) {
		t.Fatalf("GET http://%s/ through Traefik: status %d body %.300q, want 200 and %q", host, r.Status, r.Body, framework.AppMessage(app.Name))
	}
	step(t, start, "GET http://%s/ through Traefik: %d %q in %s", host, r.Status, strings.TrimSpace(r.Body), r.Duration.Round(time.Millisecond))

	r, err = tr.Get(f.ctx, "nobody.example.test", "/")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusNotFound {
		t.Fatalf("GET http://nobody.example.test/ through Traefik: status %d body %.300q, want Traefik's 404", r.Status, r.Body)
	}
	step(t, start, "a host no Ingress names: %d", r.Status)
}

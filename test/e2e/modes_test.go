//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// TestManualScaleModes: scaling the target to 0 by hand puts the Service in proxy mode (an
// Elasti EndpointSlice listing the ready sidecars, ScaledToZero=True); scaling it up by hand
// returns it to serve mode (slice gone, Elasti out of the path).
func TestManualScaleModes(t *testing.T) {
	f := setup(t, "modes", 2)
	start := time.Now()
	app := f.app(framework.AppOptions{Name: "app"}, nil)
	step(t, start, "serve mode with a ready pod")
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("app"))

	st := f.toZero(app)
	step(t, start, "proxy mode: %s", st)
	if st.Condition(elastiv1.ConditionScaledToZero) != metav1.ConditionTrue {
		t.Errorf("ScaledToZero = %q at zero, want True", st.Condition(elastiv1.ConditionScaledToZero))
	}
	for _, ip := range f.gwPods {
		if !slices.Contains(st.ProxyAddresses(), ip) {
			t.Errorf("proxy slice %v does not list the gateway pod %s", st.ProxyAddresses(), ip)
		}
	}
	assertSliceListsExactlySidecars(t, f, app)

	if err := app.SetReplicas(f.ctx, 1); err != nil {
		t.Fatal(err)
	}
	st, err := app.WaitState(f.ctx, env.Config.Scale(60*time.Second), "serve mode after a manual scale-up", framework.InServeMode)
	if err != nil {
		t.Fatal(err)
	}
	step(t, start, "serve mode again: %s", st)
	if st.Condition(elastiv1.ConditionScaledToZero) == metav1.ConditionTrue {
		t.Errorf("ScaledToZero still True after the scale-up")
	}
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("app"))
}

// TestDeleteAtZero: the ElastiService of a target at zero (the app takes 3 s to start) is
// deleted while 200 requests arrive (100 just before the deletion, 100 just after): the target is
// scaled up first and the Service stays on the sidecars until a pod is ready, so all 200 answer
// 200; then Elasti's slices and the ElastiService are gone, and requests go straight to the app.
func TestDeleteAtZero(t *testing.T) {
	f := setup(t, "delete", 1)
	start := time.Now()
	app := f.app(framework.AppOptions{Name: "app", StartupDelay: 3 * time.Second}, nil)
	f.toZero(app)
	es, err := app.GetElastiService(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	url := f.url(app, 0, "/")
	var wg sync.WaitGroup
	results := make([]*framework.BurstResult, 2)
	wg.Go(func() { results[0] = framework.Burst(f.ctx, f.gw.fresh, url, 100, framework.AppMessage("app")) })
	time.Sleep(300 * time.Millisecond)
	if err := env.Client.Delete(f.ctx, es); err != nil {
		t.Fatal(err)
	}
	step(t, start, "deleted the ElastiService while the target is at zero")
	wg.Go(func() { results[1] = framework.Burst(f.ctx, f.gw.fresh, url, 100, framework.AppMessage("app")) })
	wg.Wait()
	for i, res := range results {
		step(t, start, "burst %d (%s the deletion): %s", i, []string{"before", "after"}[i], res)
		if res.Failures() != 0 || res.OK != 100 {
			t.Errorf("burst %d: %d of 100 failed: %s", i, res.Failures(), res)
		}
	}
	err = framework.Poll(f.ctx, env.Config.Scale(60*time.Second), 250*time.Millisecond, "the target back at 1 ready replica, no Elasti slice, the ElastiService gone",
		func(ctx context.Context) (bool, string, error) {
			sc, err := app.Scale(ctx)
			if err != nil {
				return false, "", err
			}
			slices, err := env.Kube.DiscoveryV1().EndpointSlices(f.ns.Name).List(ctx, metav1.ListOptions{LabelSelector: "endpointslice.kubernetes.io/managed-by=" + names.ControllerName})
			if err != nil {
				return false, "", err
			}
			d, err := env.Kube.AppsV1().Deployments(f.ns.Name).Get(ctx, app.Name, metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			_, esErr := app.GetElastiService(ctx)
			return sc.Spec.Replicas >= 1 && d.Status.ReadyReplicas >= 1 && len(slices.Items) == 0 && apierrors.IsNotFound(esErr),
				fmt.Sprintf("spec=%d ready=%d elasti-slices=%d elastiservice=%v", sc.Spec.Replicas, d.Status.ReadyReplicas, len(slices.Items), esErr), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	f.mustGet(url, framework.AppMessage("app"))
}

// TestKeptAliveConnectionEndsOnThePod: a client with one kept-alive connection to a Service's
// ClusterIP at zero (as a gateway holds one) wakes it through a sidecar; once the Service is back
// in serve mode, the sidecar ends that connection after a response, and the client's next
// connection goes straight to the pod: the address the app sees for it is no sidecar's.
func TestKeptAliveConnectionEndsOnThePod(t *testing.T) {
	f := setup(t, "keepalive-peer", 1)
	start := time.Now()
	app := f.app(framework.AppOptions{Name: "app"}, nil)
	f.toZero(app)
	svc, err := env.Kube.CoreV1().Services(f.ns.Name).Get(f.ctx, app.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client := framework.GatewayClient(net.JoinHostPort(svc.Spec.ClusterIP, fmt.Sprint(svc.Spec.Ports[0].Port)), true)
	url := f.url(app, 0, "/peer")
	peer := func() string {
		t.Helper()
		r, err := framework.Get(f.ctx, client, url)
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("GET %s: %v %+v", url, err, r)
		}
		host, _, err := net.SplitHostPort(strings.TrimSpace(r.Body))
		if err != nil {
			t.Fatalf("the app answered %q, not an address", r.Body)
		}
		return host
	}
	sidecarIPs, err := allSidecarIPs(f)
	if err != nil {
		t.Fatal(err)
	}
	first := peer()
	step(t, start, "woken through a kept-alive connection; the app saw it come from %s", first)
	if !slices.Contains(sidecarIPs, first) {
		t.Fatalf("the waking request came from %s, not from a sidecar %v", first, sidecarIPs)
	}
	if _, err := app.WaitState(f.ctx, env.Config.Scale(60*time.Second), "serve mode", framework.InServeMode); err != nil {
		t.Fatal(err)
	}
	var last string
	for i := range 50 {
		last = peer()
		if !slices.Contains(sidecarIPs, last) {
			step(t, start, "request %d after serve mode came straight to the pod (from %s)", i+1, last)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("50 requests after the switch to serve mode still came through a sidecar (last from %s)", last)
}

// allSidecarIPs lists the IPs of every pod carrying a resolver sidecar.
func allSidecarIPs(f *fixture) ([]string, error) {
	pods, err := env.Kube.CoreV1().Pods("").List(f.ctx, metav1.ListOptions{LabelSelector: names.LabelResolver + "=true"})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods.Items {
		for _, ip := range p.Status.PodIPs {
			out = append(out, ip.IP)
		}
	}
	return out, nil
}

// assertSliceListsExactlySidecars: the ready addresses of the app's proxy slices are exactly the
// ready sidecar pods of the cluster, each once. Sidecars are cluster-wide, so gateway pods of an
// earlier scenario's namespace may still be going away: the two sets are compared until they
// agree, for a while, and the last difference is reported.
func assertSliceListsExactlySidecars(t *testing.T, f *fixture, app *framework.App) {
	t.Helper()
	err := framework.Poll(f.ctx, env.Config.Scale(30*time.Second), 500*time.Millisecond, "the proxy slices listing exactly the ready sidecars",
		func(ctx context.Context) (bool, string, error) {
			st, err := app.State(ctx)
			if err != nil {
				return false, "", err
			}
			listed, sidecars := st.ProxyAddresses(), sidecarPodIPs(t, f)
			slices.Sort(sidecars)
			return slices.Equal(listed, sidecars), fmt.Sprintf("slices list %v, ready sidecars %v", listed, sidecars), nil
		})
	if err != nil {
		t.Error(err)
	}
}

// sidecarPodIPs lists the IPs of ready pods whose resolver container is ready, cluster-wide.
func sidecarPodIPs(t *testing.T, f *fixture) []string {
	t.Helper()
	pods, err := env.Kube.CoreV1().Pods("").List(f.ctx, metav1.ListOptions{LabelSelector: "elasti.dev/resolver=true"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		if framework.PodReady(&p) && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out = append(out, p.Status.PodIP)
		}
	}
	return out
}

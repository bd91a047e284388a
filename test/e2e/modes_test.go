//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
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

// TestDeleteAtZero: deleting an ElastiService whose target sits at zero brings the workload back
// and leaves the Service in its ordinary state (no Elasti slice).
func TestDeleteAtZero(t *testing.T) {
	f := setup(t, "delete", 1)
	app := f.app(framework.AppOptions{Name: "app"}, nil)
	f.toZero(app)
	es, err := app.GetElastiService(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(f.ctx, es); err != nil {
		t.Fatal(err)
	}
	err = framework.Poll(f.ctx, env.Config.Scale(60*time.Second), 250*time.Millisecond, "the target back at 1 ready replica and no Elasti slice",
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
			return sc.Spec.Replicas >= 1 && d.Status.ReadyReplicas >= 1 && len(slices.Items) == 0,
				fmt.Sprintf("spec=%d ready=%d elasti-slices=%d", sc.Spec.Replicas, d.Status.ReadyReplicas, len(slices.Items)), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("app"))
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

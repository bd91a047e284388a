//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/kubetest"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// fleetNS is a namespace of ElastiServices at zero that no request ever reaches: their proxy
// slices list every gateway's sidecar, so every gateway pod that comes or goes rewrites them all.
type fleetNS struct {
	name string
	n    int
}

// createFleet creates n Deployments at zero with a one-port Service and an ElastiService each
// (no triggers, no pods), and waits until all are in proxy mode. At the end the Deployments go
// first: an ElastiService deleted while its target exists at zero scales it up before it goes.
func createFleet(t *testing.T, ctx context.Context, prefix string, n int) *fleetNS {
	t.Helper()
	ns, err := env.CreateNamespace(ctx, "e2e-"+prefix+"-fleet", framework.NamespaceOptions{})
	if err != nil {
		t.Fatalf("creating the fleet's namespace: %v", err)
	}
	fl := &fleetNS{name: ns.Name, n: n}
	t.Cleanup(func() { fl.delete(t) })
	if err := kubetest.CreateAll(ctx, env.Client, n, 8, fl.member); err != nil {
		t.Fatal(err)
	}
	err = framework.Poll(ctx, env.Config.Scale(3*time.Minute), time.Second, fmt.Sprintf("all %d ElastiServices of %s in proxy mode", n, fl.name),
		func(ctx context.Context) (bool, string, error) {
			list := &elastiv1.ElastiServiceList{}
			if err := env.Client.List(ctx, list, client.InNamespace(fl.name)); err != nil {
				return false, "", err
			}
			proxy := 0
			for _, es := range list.Items {
				if es.Status.Mode == elastiv1.ModeProxy {
					proxy++
				}
			}
			return proxy == n, fmt.Sprintf("%d of %d in proxy mode", proxy, n), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return fl
}

func (fl *fleetNS) member(i int) []client.Object {
	name := fmt.Sprintf("svc-%04d", i)
	labels := map[string]string{"app": name, "elasti.dev/e2e-fleet": "true"}
	return []client.Object{
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fl.name, Labels: labels},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](0),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: env.Config.DemoImage}}},
				},
			},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fl.name},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
			}},
		},
		&elastiv1.ElastiService{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fl.name},
			Spec: elastiv1.ElastiServiceSpec{
				Service:        name,
				ScaleTargetRef: elastiv1.ScaleTargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			},
		},
	}
}

// watchDrop starts polling the fleet's proxy slices; the function it returns waits until none
// lists ip as ready (proxies stop sending there; the endpoint itself goes once the pod has
// terminated) and says how long that took from the call.
func (fl *fleetNS) watchDrop(ctx context.Context, ip string) func() (time.Duration, error) {
	start := time.Now()
	type result struct {
		d   time.Duration
		err error
	}
	done := make(chan result, 1)
	go func() {
		err := framework.Poll(ctx, env.Config.Scale(2*time.Minute), 100*time.Millisecond, fmt.Sprintf("no proxy slice of %s listing %s ready", fl.name, ip),
			func(ctx context.Context) (bool, string, error) {
				list := &discoveryv1.EndpointSliceList{}
				if err := env.Client.List(ctx, list, client.InNamespace(fl.name), client.MatchingLabels{discoveryv1.LabelManagedBy: names.ControllerName}); err != nil {
					return false, "", err
				}
				listing := 0
				for i := range list.Items {
					for _, ep := range list.Items[i].Endpoints {
						if len(ep.Addresses) > 0 && ep.Addresses[0] == ip && ptr.Deref(ep.Conditions.Ready, false) {
							listing++
							break
						}
					}
				}
				return listing == 0, fmt.Sprintf("%d of %d slices still list it ready", listing, len(list.Items)), nil
			})
		done <- result{time.Since(start), err}
	}()
	return func() (time.Duration, error) {
		r := <-done
		return r.d, r.err
	}
}

// delete removes the Deployments, then the namespace (no dump: 200 ElastiServices say nothing
// a failure needs).
func (fl *fleetNS) delete(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := env.Client.DeleteAllOf(ctx, &appsv1.Deployment{}, client.InNamespace(fl.name), client.MatchingLabels{"elasti.dev/e2e-fleet": "true"}); err != nil {
		t.Logf("deleting the fleet's Deployments: %v", err)
	}
	err := framework.Poll(ctx, 2*time.Minute, time.Second, "the fleet's Deployments gone", func(ctx context.Context) (bool, string, error) {
		list := &appsv1.DeploymentList{}
		if err := env.Client.List(ctx, list, client.InNamespace(fl.name)); err != nil {
			return false, "", err
		}
		return len(list.Items) == 0, fmt.Sprintf("%d left", len(list.Items)), nil
	})
	if err != nil {
		t.Logf("fleet cleanup: %v", err)
	}
	if err := env.Kube.CoreV1().Namespaces().Delete(ctx, fl.name, metav1.DeleteOptions{}); err != nil {
		t.Logf("deleting the fleet's namespace %s: %v", fl.name, err)
	}
}

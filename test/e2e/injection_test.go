//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// TestInjection: in an opted-in namespace, gateway pods (selected by the namespace's selector or
// annotated elasti.dev/gateway) get exactly one resolver sidecar and the resolver label; other
// pods there, a gateway pod that opts out, and gateway pods of a namespace that did not opt in
// get none.
func TestInjection(t *testing.T) {
	f := setup(t, "inject", 2)
	if !f.ns.LabelMirrored {
		t.Errorf("the namespace's %s annotation was not mirrored onto its label within 15 s", names.AnnotationInject)
	}
	gws, err := f.ns.GatewayPods(f.ctx, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range gws {
		assertSidecars(t, &p, 1)
	}
	assertCAPublished(t, f.ctx, f.ns.Name, &gws[0])
	if _, err := f.ns.DeployApp(f.ctx, framework.AppOptions{Name: "app"}); err != nil {
		t.Fatal(err)
	}
	byAnnotation := gatewayPod("by-annotation", map[string]string{"role": "edge"}, map[string]string{names.AnnotationGateway: "true"})
	optedOut := gatewayPod("opted-out", map[string]string{"app": "e2e-gateway"}, map[string]string{names.AnnotationInject: names.InjectDisabled})
	created := map[string]*corev1.Pod{}
	for _, p := range []*corev1.Pod{byAnnotation, optedOut} {
		c, err := env.Kube.CoreV1().Pods(f.ns.Name).Create(f.ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating pod %s: %v", p.Name, err)
		}
		created[p.Name] = c
	}
	assertSidecars(t, created["by-annotation"], 1)
	assertSidecars(t, created["opted-out"], 0)
	appPods := waitPods(t, f.ctx, f.ns.Name, "app=app", 1)
	assertSidecars(t, &appPods[0], 0)

	other, err := env.CreateNamespace(f.ctx, "e2e-inject-other", framework.NamespaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupNamespace(t, other) })
	for _, p := range []*corev1.Pod{
		gatewayPod("selected", map[string]string{"app": "e2e-gateway"}, nil),
		gatewayPod("annotated", nil, map[string]string{names.AnnotationGateway: "true"}),
	} {
		c, err := env.Kube.CoreV1().Pods(other.Name).Create(f.ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating pod %s in a namespace that did not opt in: %v", p.Name, err)
		}
		assertSidecars(t, c, 0)
	}
}

// reasonSidecarMissing is the reason of the Event the webhook's uninjected-pod checker puts on a
// gateway pod running without the sidecar (webhook/internal/nslabel.ReasonSidecarMissing, which
// this package cannot import; docs/webhook.md names it).
const reasonSidecarMissing = "ResolverSidecarMissing"

// TestWebhookDown: with the webhook stopped, a gateway pod in an opted-in namespace is still
// created (failurePolicy Ignore), without a sidecar, and Elasti reports the gap with an Event on
// that pod. The webhook is restored afterwards.
func TestWebhookDown(t *testing.T) {
	f := setup(t, "webhookdown", 0)
	ns := env.Config.SystemNamespace
	d, err := env.Kube.AppsV1().Deployments(ns).Get(f.ctx, "elasti-webhook", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	replicas := ptr.Deref(d.Spec.Replicas, 1)
	scaleWebhook := func(ctx context.Context, n int32) error {
		patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
		_, err := env.Kube.AppsV1().Deployments(ns).Patch(ctx, "elasti-webhook", "application/merge-patch+json", []byte(patch), metav1.PatchOptions{})
		return err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := scaleWebhook(ctx, replicas); err != nil {
			t.Errorf("restoring the webhook: %v", err)
			return
		}
		waitPods(t, ctx, ns, "app.kubernetes.io/name=elasti-webhook", int(replicas))
	})
	if err := scaleWebhook(f.ctx, 0); err != nil {
		t.Fatal(err)
	}
	waitPods(t, f.ctx, ns, "app.kubernetes.io/name=elasti-webhook", 0)
	time.Sleep(time.Second) // let the webhook Service's endpoints empty
	start := time.Now()
	p, err := env.Kube.CoreV1().Pods(f.ns.Name).Create(f.ctx, gatewayPod("uninjected", map[string]string{"app": "e2e-gateway"}, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating a gateway pod while the webhook is down: %v (pod creation must not depend on Elasti)", err)
	}
	step(t, start, "pod created in %s while the webhook was down", time.Since(start))
	assertSidecars(t, p, 0)
	if err := scaleWebhook(f.ctx, replicas); err != nil {
		t.Fatal(err)
	}
	var seen string
	err = framework.Poll(f.ctx, env.Config.Scale(90*time.Second), time.Second, "a Warning Event "+reasonSidecarMissing+" from Elasti on the gateway pod admitted without a sidecar",
		func(ctx context.Context) (bool, string, error) {
			evs, err := env.Kube.CoreV1().Events(f.ns.Name).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=uninjected"})
			if err != nil {
				return false, "", err
			}
			var all []string
			for _, ev := range evs.Items {
				all = append(all, ev.Source.Component+"/"+ev.ReportingController+":"+ev.Type+"/"+ev.Reason)
				if strings.Contains(ev.Source.Component+ev.ReportingController, "elasti") &&
					ev.Reason == reasonSidecarMissing && ev.Type == corev1.EventTypeWarning {
					seen = ev.Reason + ": " + ev.Message
					return true, "", nil
				}
			}
			return false, fmt.Sprintf("events %v", all), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	step(t, start, "gap reported: %s", seen)
}

// gatewayPod is a bare demo-gateway pod with the given labels and annotations.
func gatewayPod(name string, labels, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{Name: "gateway", Image: env.Config.GatewayImage, ImagePullPolicy: corev1.PullIfNotPresent,
				Args: []string{"--listen=:8080", "--namespace=default"}}},
		},
	}
}

// assertSidecars checks the number of resolver containers (regular and native) of a pod and its
// resolver label.
func assertSidecars(t *testing.T, p *corev1.Pod, want int) {
	t.Helper()
	n := 0
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		if c.Name == names.SidecarContainerName {
			n++
		}
	}
	if n != want {
		t.Errorf("pod %s/%s has %d %s containers, want %d", p.Namespace, p.Name, n, names.SidecarContainerName, want)
	}
	if got := p.Labels[names.LabelResolver] == "true"; got != (want > 0) {
		t.Errorf("pod %s/%s: label %s=%q, want it set iff injected (%v)", p.Namespace, p.Name, names.LabelResolver, p.Labels[names.LabelResolver], want > 0)
	}
}

// waitPods waits until exactly n pods match the selector (and, for n > 0, are ready).
func waitPods(t *testing.T, ctx context.Context, ns, selector string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	err := framework.Poll(ctx, env.Config.Scale(90*time.Second), 250*time.Millisecond, fmt.Sprintf("%d ready pods %s in %s", n, selector, ns),
		func(ctx context.Context) (bool, string, error) {
			all, err := env.PodsBySelector(ctx, ns, selector)
			if err != nil {
				return false, "", err
			}
			pods = all
			ready := 0
			for _, p := range all {
				if framework.PodReady(&p) {
					ready++
				}
			}
			return len(all) == n && ready == n, fmt.Sprintf("%d pods, %d ready", len(all), ready), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return pods
}

// assertCAPublished: the webhook keeps the operator CA bundle in the opted-in namespace, equal to
// the bundle the sidecar got in its environment at injection (no rotation happens during the
// suite), and the sidecar is pointed at the projected copy.
func assertCAPublished(t *testing.T, ctx context.Context, ns string, gw *corev1.Pod) {
	t.Helper()
	var injected string
	var args []string
	for _, c := range append(append([]corev1.Container{}, gw.Spec.InitContainers...), gw.Spec.Containers...) {
		if c.Name != names.SidecarContainerName {
			continue
		}
		args = c.Args
		for _, e := range c.Env {
			if e.Name == names.EnvCABundle {
				injected = e.Value
			}
		}
	}
	if !slices.Contains(args, "--ca-file="+names.SidecarCAFile) {
		t.Errorf("the sidecar is not given the projected CA file: args %q", args)
	}
	var got string
	err := framework.Poll(ctx, 30*time.Second, 200*time.Millisecond, "ConfigMap "+names.OperatorCAConfigMap+" published", func(ctx context.Context) (bool, string, error) {
		cm, err := env.Kube.CoreV1().ConfigMaps(ns).Get(ctx, names.OperatorCAConfigMap, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		got = cm.Data[names.OperatorCAKey]
		return got != "", fmt.Sprintf("%d bytes", len(got)), nil
	})
	if err != nil {
		t.Error(err)
		return
	}
	if injected == "" {
		t.Errorf("the sidecar has no %s: nothing to compare the published bundle with", names.EnvCABundle)
		return
	}
	if got != injected {
		t.Errorf("the published bundle (%d bytes) differs from the one injected into the sidecar (%d bytes)", len(got), len(injected))
	}
}

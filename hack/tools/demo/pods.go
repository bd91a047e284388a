package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// livePod is the first pod that runs and is not being deleted: a rollout's old pod keeps phase
// Running while it terminates, and must never be taken for the gateway or Traefik pod.
func livePod(pods []corev1.Pod) (*corev1.Pod, bool) {
	for i := range pods {
		if pods[i].Status.Phase == corev1.PodRunning && pods[i].DeletionTimestamp == nil {
			return &pods[i], true
		}
	}
	return nil, false
}

// hasSidecar says whether the webhook injected the resolver into the pod.
func hasSidecar(p *corev1.Pod) bool {
	is := func(c corev1.Container) bool { return c.Name == names.SidecarContainerName }
	return slices.ContainsFunc(p.Spec.InitContainers, is) || slices.ContainsFunc(p.Spec.Containers, is)
}

// withoutSidecar names the pods, not being deleted, that lack the sidecar: pods created before
// the webhook saw their namespace's label.
func withoutSidecar(pods []corev1.Pod) []string {
	var out []string
	for i := range pods {
		if pods[i].DeletionTimestamp == nil && !hasSidecar(&pods[i]) {
			out = append(out, pods[i].Name)
		}
	}
	return out
}

// containers describes the pod's containers as the demo shows them.
func containers(p *corev1.Pod) string {
	var b strings.Builder
	for _, c := range p.Spec.InitContainers {
		policy := ""
		if c.RestartPolicy != nil {
			policy = string(*c.RestartPolicy)
		}
		fmt.Fprintf(&b, "init container %s (restartPolicy %s) image %s\n", c.Name, policy, c.Image)
	}
	for _, c := range p.Spec.Containers {
		fmt.Fprintf(&b, "container %s image %s\n", c.Name, c.Image)
	}
	return b.String()
}

// staleOwners returns the owners (ReplicaSets, by name) of the pods that run an elasti/* image
// whose ID is not one the runtime has now for that image's tag (want: image name, as in
// elasti/NAME:TAG, to IDs). Pods being deleted, images not in want and containers not started
// yet are left out.
func staleOwners(pods []corev1.Pod, want map[string][]string) []string {
	var out []string
	for _, p := range pods {
		if p.DeletionTimestamp != nil || len(p.OwnerReferences) == 0 {
			continue
		}
		statuses := append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...)
		for _, s := range statuses {
			ids, ok := want[elastiImageName(s.Image)]
			if !ok || s.ImageID == "" || slices.Contains(ids, s.ImageID) {
				continue
			}
			if o := p.OwnerReferences[0].Name; !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	slices.Sort(out)
	return out
}

// elastiImageName is NAME of [docker.io/]elasti/NAME[:TAG], "" for any other image.
func elastiImageName(image string) string {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(image, "docker.io/"), "elasti/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, ":")
	name, _, _ = strings.Cut(name, "@")
	return name
}

// restartStale rolls out again every Deployment of ns whose pods run an older elasti/* image
// than the runtime has now, and waits for those rollouts. It says whether it restarted any.
func (d *demo) restartStale(ctx context.Context, ns string) (bool, error) {
	if len(d.images) == 0 {
		return false, nil
	}
	pods, err := d.env.PodsBySelector(ctx, ns, "")
	if err != nil {
		return false, err
	}
	var deploys []string
	for _, rs := range staleOwners(pods, d.images) {
		r, err := d.env.Kube.AppsV1().ReplicaSets(ns).Get(ctx, rs, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("reading ReplicaSet %s/%s: %w", ns, rs, err)
		}
		for _, o := range r.OwnerReferences {
			if o.Kind == "Deployment" && !slices.Contains(deploys, o.Name) {
				deploys = append(deploys, o.Name)
			}
		}
	}
	for _, name := range deploys {
		d.logf("restarting deployment %s/%s: its pods run an older image than bin/images", ns, name)
		if err := d.restart(ctx, ns, name); err != nil {
			return false, err
		}
	}
	return len(deploys) > 0, nil
}

// restart does what `kubectl rollout restart` does (a new restartedAt annotation on the pod
// template) and waits until the new pods are available.
func (d *demo) restart(ctx context.Context, ns, name string) error {
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`,
		time.Now().Format(time.RFC3339Nano))
	dep, err := d.env.Kube.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("restarting deployment %s/%s: %w", ns, name, err)
	}
	return d.env.WaitRollout(ctx, dep, 3*time.Minute)
}

// rolledOut waits until the Deployment's current generation is rolled out and available.
func (d *demo) rolledOut(ctx context.Context, ns, name string) error {
	dep, err := d.env.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading deployment %s/%s: %w", ns, name, err)
	}
	return d.env.WaitRollout(ctx, dep, 2*time.Minute)
}

// injected makes sure every pod of the Deployment (selected by selector) carries the sidecar:
// pods created before the namespace's label was mirrored are replaced by a restart. It returns
// the live pod once the rollout is done.
func (d *demo) injected(ctx context.Context, ns *framework.Namespace, deploy, selector string) (*corev1.Pod, error) {
	if err := d.rolledOut(ctx, ns.Name, deploy); err != nil {
		return nil, err
	}
	pods, err := d.env.PodsBySelector(ctx, ns.Name, selector)
	if err != nil {
		return nil, err
	}
	if missing := withoutSidecar(pods); len(missing) > 0 {
		d.logf("pods %v of %s/%s were created before the namespace was opted in: restarting the deployment", missing, ns.Name, deploy)
		if err := d.restart(ctx, ns.Name, deploy); err != nil {
			return nil, err
		}
		if pods, err = d.env.PodsBySelector(ctx, ns.Name, selector); err != nil {
			return nil, err
		}
	}
	p, ok := livePod(pods)
	if !ok {
		return nil, fmt.Errorf("deployment %s/%s has no running pod that is not being deleted", ns.Name, deploy)
	}
	if !hasSidecar(p) {
		return nil, fmt.Errorf("pod %s/%s has no %s sidecar: the webhook did not inject it (see the pod's Events and the webhook's log)", ns.Name, p.Name, names.SidecarContainerName)
	}
	return p, nil
}

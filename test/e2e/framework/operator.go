package framework

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// OperatorDeployment is the operator's Deployment name in the system namespace.
const OperatorDeployment = "elasti-operator"

// SetOperatorFlag makes the operator container run with --name=value (replacing any value it had)
// and waits for the rollout. It returns a function that restores the previous arguments, or nil
// when nothing had to change. The suite uses it for --poll-interval: the shipped 30 s would make
// the trigger scenarios slow.
func (e *Env) SetOperatorFlag(ctx context.Context, name, value string) (restore func(context.Context) error, err error) {
	deps := e.Kube.AppsV1().Deployments(e.Config.SystemNamespace)
	d, err := deps.Get(ctx, OperatorDeployment, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the operator deployment: %w", err)
	}
	c := &d.Spec.Template.Spec.Containers[0]
	old := append([]string(nil), c.Args...)
	want := "--" + name + "=" + value
	var args []string
	for _, a := range c.Args {
		if !strings.HasPrefix(a, "--"+name+"=") {
			args = append(args, a)
		}
	}
	args = append(args, want)
	if strings.Join(args, " ") == strings.Join(old, " ") || containsArg(old, want) {
		return nil, nil
	}
	if err := e.setOperatorArgs(ctx, args); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return e.setOperatorArgs(ctx, old) }, nil
}

func containsArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

// setOperatorArgs writes the operator container's arguments and waits for the rollout. The
// read-modify-write is retried on conflict: right after an install or a restart, the Deployment
// controller's status writes change the resourceVersion between the read and the update (CI's
// run of e707ee2 failed TestCertManager so, and the scenarios after it ran with the wrong flags).
func (e *Env) setOperatorArgs(ctx context.Context, args []string) error {
	deps := e.Kube.AppsV1().Deployments(e.Config.SystemNamespace)
	var updated *appsv1.Deployment
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := deps.Get(ctx, OperatorDeployment, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading the operator deployment: %w", err)
		}
		d.Spec.Template.Spec.Containers[0].Args = args
		updated, err = deps.Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("updating the operator's arguments: %w", err)
	}
	return e.WaitRollout(ctx, updated, 3*time.Minute)
}

// WaitRollout waits until a Deployment's new generation is fully rolled out and available.
func (e *Env) WaitRollout(ctx context.Context, d *appsv1.Deployment, timeout time.Duration) error {
	gen := d.Generation
	return Poll(ctx, e.Config.Scale(timeout), 500*time.Millisecond, "rollout of "+d.Namespace+"/"+d.Name,
		func(ctx context.Context) (bool, string, error) {
			d, err := e.Kube.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			s, want := d.Status, *d.Spec.Replicas
			state := fmt.Sprintf("observed=%d/%d updated=%d available=%d replicas=%d", s.ObservedGeneration, gen, s.UpdatedReplicas, s.AvailableReplicas, s.Replicas)
			return s.ObservedGeneration >= gen && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want, state, nil
		})
}

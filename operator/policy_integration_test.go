//go:build integration

package operator_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/operator/internal/auth/authtest"
	"github.com/elasti-dev/elasti/pkg/names"
)

// TestIntegrationResolverPodPolicy applies the ValidatingAdmissionPolicy of manifests/base/policy
// to a real API server: a pod that claims to be a resolver sidecar (label or container name) is
// refused in a namespace that did not opt in, and admitted in one that did.
func TestIntegrationResolverPodPolicy(t *testing.T) {
	env := testenv.Start(t, nil)
	c := env.Client
	ctx := context.Background()
	plain := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain"}}
	edge := authtest.OptedInNamespace("")
	edge.Name = "edge"
	system := authtest.OptedInNamespace("")
	system.Name = names.SystemNamespace
	for _, ns := range []client.Object{plain, edge, system} {
		require.NoError(t, c.Create(ctx, ns))
	}
	applyYAML(t, c, "manifests/base/policy/resolver-pods.yaml")

	forged := func(ns, name string) *corev1.Pod {
		p := authtest.SidecarPod(ns, name, "default")
		p.Spec.ServiceAccountName = ""
		return p
	}
	// The policy is compiled and loaded asynchronously: wait until it refuses.
	require.Eventually(t, func() bool {
		err := c.Create(ctx, forged("plain", "probe"))
		if err == nil {
			_ = c.Delete(ctx, forged("plain", "probe"), client.GracePeriodSeconds(0))
		}
		return apierrors.IsForbidden(err) || apierrors.IsInvalid(err)
	}, 30*time.Second, 200*time.Millisecond, "the policy never refused a forged sidecar pod")

	labelOnly := forged("plain", "label-only")
	labelOnly.Spec.InitContainers = nil
	containerOnly := forged("plain", "container-only")
	containerOnly.Labels = nil
	regular := forged("plain", "regular-container")
	regular.Spec.Containers = append(regular.Spec.Containers, regular.Spec.InitContainers[0])
	regular.Spec.Containers[1].RestartPolicy = nil
	regular.Spec.InitContainers = nil
	regular.Labels = nil
	falseLabel := forged("plain", "label-false")
	falseLabel.Labels[names.LabelResolver] = "false"
	falseLabel.Spec.InitContainers = nil

	tests := []struct {
		name    string
		pod     *corev1.Pod
		refused bool
	}{
		{"forged sidecar, namespace not opted in", forged("plain", "forged"), true},
		{"the resolver label alone", labelOnly, true},
		{"the label with another value", falseLabel, true},
		{"the sidecar container alone (native)", containerOnly, true},
		{"the sidecar as a regular container", regular, true},
		{"opted-in namespace", forged("edge", "gw"), false},
		{"Elasti's own namespace, even annotated", forged(names.SystemNamespace, "gw"), true},
		{"an ordinary pod", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "plain", Name: "app", Labels: map[string]string{"app": "x"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Create(ctx, tt.pod)
			if !tt.refused {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, apierrors.IsForbidden(err) || apierrors.IsInvalid(err), "%v", err)
			assert.Contains(t, err.Error(), "not opted in")
		})
	}

	t.Run("adding the label later is refused too", func(t *testing.T) {
		app := &corev1.Pod{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "plain", Name: "app"}, app))
		orig := app.DeepCopy()
		app.Labels[names.LabelResolver] = "true"
		err := c.Patch(ctx, app, client.MergeFrom(orig))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not opted in")
	})
	t.Run("a sidecar pod admitted while opted in can still be updated after an opt-out", func(t *testing.T) {
		ns := &corev1.Namespace{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "edge"}, ns))
		orig := ns.DeepCopy()
		delete(ns.Annotations, names.AnnotationInject)
		require.NoError(t, c.Patch(ctx, ns, client.MergeFrom(orig)))
		gw := &corev1.Pod{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "edge", Name: "gw"}, gw))
		before := gw.DeepCopy()
		gw.Labels["team"] = "edge"
		require.NoError(t, c.Patch(ctx, gw, client.MergeFrom(before)))
	})
}

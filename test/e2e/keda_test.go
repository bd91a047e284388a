//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/framework"
	"github.com/elasti-dev/elasti/test/e2e/testdata"
)

var scaledObjects = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}

// TestKEDAPause: an ElastiService whose autoscaler is a KEDA ScaledObject pauses it (annotations
// autoscaling.keda.sh/paused-replicas "0" and paused "true") when it scales the target to zero, and
// removes both when a request wakes the target. The ScaledObject CRD is installed by the test when
// the cluster has none.
func TestKEDAPause(t *testing.T) {
	f := setup(t, "keda", 1)
	p := requirePrometheus(t, f.ctx)
	ensureScaledObjectCRD(t, f.ctx)
	so := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
		"metadata": map[string]any{"name": "app", "namespace": f.ns.Name},
		"spec":     map[string]any{"scaleTargetRef": map[string]any{"name": "app"}, "minReplicaCount": int64(0)},
	}}
	if _, err := env.Dynamic.Resource(scaledObjects).Namespace(f.ns.Name).Create(f.ctx, so, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the ScaledObject: %v", err)
	}
	app := f.app(framework.AppOptions{Name: "app"}, func(es *elastiv1.ElastiService) {
		es.Spec.CooldownPeriod = ptr.To[int32](10)
		es.Spec.Autoscaler = &elastiv1.AutoscalerSpec{Type: elastiv1.AutoscalerKEDA, Name: "app"}
		es.Spec.Triggers = []elastiv1.ScaleTrigger{framework.PrometheusTrigger(p.InClusterURL, "vector(0)", "1", "")}
	})
	start := time.Now()
	if _, err := app.WaitState(f.ctx, env.Config.Scale(120*time.Second), "scale to zero by the idle trigger", framework.AtZeroInProxyMode); err != nil {
		t.Fatal(err)
	}
	ann := scaledObjectAnnotations(t, f)
	step(t, start, "at zero; ScaledObject annotations %v", ann)
	if ann[names.KEDAPausedReplicasAnnotation] != "0" || ann[names.KEDAPausedAnnotation] != "true" {
		t.Errorf("ScaledObject at zero has annotations %v, want %s=0 and %s=true", ann, names.KEDAPausedReplicasAnnotation, names.KEDAPausedAnnotation)
	}
	// The scaled-down pods keep serving for a few seconds while they drain (preStop and the app's
	// shutdown delay), and a request that still reaches one is answered without a wake-up. Wait
	// until they are gone, so that the request below has to wake the target.
	if err := framework.Poll(f.ctx, env.Config.Scale(60*time.Second), 200*time.Millisecond, "the scaled-down pods to be gone",
		func(ctx context.Context) (bool, string, error) {
			pods, err := env.Kube.CoreV1().Pods(f.ns.Name).List(ctx, metav1.ListOptions{LabelSelector: "app=app"})
			if err != nil {
				return false, "", err
			}
			return len(pods.Items) == 0, fmt.Sprintf("%d pods", len(pods.Items)), nil
		}); err != nil {
		t.Fatal(err)
	}
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("app"))
	err := framework.Poll(f.ctx, env.Config.Scale(30*time.Second), 200*time.Millisecond, "the ScaledObject to be unpaused",
		func(ctx context.Context) (bool, string, error) {
			ann := scaledObjectAnnotations(t, f)
			_, a := ann[names.KEDAPausedAnnotation]
			_, b := ann[names.KEDAPausedReplicasAnnotation]
			return !a && !b, fmt.Sprintf("annotations %v", ann), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	step(t, start, "woken and unpaused")
}

func scaledObjectAnnotations(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	so, err := env.Dynamic.Resource(scaledObjects).Namespace(f.ns.Name).Get(f.ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the ScaledObject: %v", err)
	}
	return so.GetAnnotations()
}

// ensureScaledObjectCRD installs the stand-in CRD unless one exists, and removes it afterwards.
func ensureScaledObjectCRD(t *testing.T, ctx context.Context) {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	err := env.Client.Get(ctx, clientKey("", "scaledobjects.keda.sh"), crd)
	if err == nil {
		t.Logf("using the cluster's ScaledObject CRD")
		return
	}
	if !apierrors.IsNotFound(err) {
		t.Fatalf("reading the ScaledObject CRD: %v", err)
	}
	if err := env.CreateAll(ctx, testdata.ScaledObjectCRD, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.DeleteAll(context.Background(), testdata.ScaledObjectCRD, nil); err != nil {
			t.Errorf("removing the ScaledObject CRD: %v", err)
		}
	})
	err = framework.Poll(ctx, env.Config.Scale(30*time.Second), 200*time.Millisecond, "the ScaledObject CRD to be established",
		func(ctx context.Context) (bool, string, error) {
			_, err := env.Dynamic.Resource(scaledObjects).Namespace("default").List(ctx, metav1.ListOptions{Limit: 1})
			return err == nil, "", err
		})
	if err != nil {
		t.Fatal(err)
	}
}

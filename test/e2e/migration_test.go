//go:build e2e

package e2e

import (
	"testing"
	"time"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// TestKubeElastiKind: an ElastiService written for KubeElasti, whose scaleTargetRef names the
// target's kind as "deployments" (its demo and playground do; docs/migration.md), works as one
// naming Deployment: the operator follows the Deployment into proxy mode when it is scaled to
// zero, and a request wakes it.
func TestKubeElastiKind(t *testing.T) {
	f := setup(t, "kubeelasti", 1)
	app := f.app(framework.AppOptions{Name: "app"}, func(es *elastiv1.ElastiService) {
		es.Spec.ScaleTargetRef.Kind = "deployments"
	})
	f.toZero(app)
	start := time.Now()
	r := f.mustGet(f.url(app, 0, "/"), framework.AppMessage("app"))
	step(t, start, "woken by a request: %d in %s (held %s)", r.Status, r.Duration, framework.HeldFor(r.Header))
	if _, err := app.WaitState(f.ctx, env.Config.Scale(60*time.Second), "serve mode after the wake-up", framework.InServeMode); err != nil {
		t.Fatal(err)
	}
}

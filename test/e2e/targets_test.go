//go:build e2e

package e2e

import (
	"testing"
	"time"

	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// TestTwoPortsStatefulSet: a StatefulSet target behind a Service with two ports. At zero, a
// request to each port wakes it and reaches the container behind that port (not the other).
func TestTwoPortsStatefulSet(t *testing.T) {
	f := setup(t, "twoports", 1)
	app := f.app(framework.AppOptions{Name: "sts", StatefulSet: true, SecondPort: true}, nil)
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("sts"))
	f.mustGet(f.url(app, 8081, "/"), framework.SecondMessage("sts"))

	st := f.toZero(app)
	for _, sl := range st.ProxySlices {
		if len(sl.Ports) != 2 {
			t.Errorf("proxy slice %s has %d ports, want both Service ports", sl.Name, len(sl.Ports))
		}
	}
	start := time.Now()
	f.mustGet(f.url(app, 8081, "/"), framework.SecondMessage("sts"))
	step(t, start, "second port woke the StatefulSet")
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("sts"))
	// Let this wake-up finish (serve mode) before scaling to zero again: a request held for a
	// moment during it was reported to the operator, and a report still in flight when the target
	// is scaled to zero by hand wakes it again, as it should (a request was waiting when it was
	// sent). CI run 11 met exactly that under load.
	if _, err := app.WaitState(f.ctx, env.Config.Scale(60*time.Second), "serve mode after the wake-up", framework.InServeMode); err != nil {
		t.Fatal(err)
	}

	f.toZero(app)
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("sts"))
	step(t, start, "first port woke it again")
	if _, err := app.WaitState(f.ctx, env.Config.Scale(60*time.Second), "serve mode", framework.InServeMode); err != nil {
		t.Fatal(err)
	}
}

//go:build e2e

package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elasti-dev/elasti/test/e2e/framework"
)

var (
	// env is nil when the suite cannot run here; skipReason then says why.
	env        *framework.Env
	skipReason string

	promOnce sync.Once
	prom     *framework.Prometheus
	promErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	if list := flag.Lookup("test.list"); list != nil && list.Value.String() != "" {
		os.Exit(m.Run()) // `go test -list` (hack/ci-e2e.sh counts the scenarios): no cluster is touched
	}
	cfg := framework.ConfigFromEnv()
	fmt.Println("e2e:", cfg.Describe())
	e, err := framework.NewEnv(cfg)
	if err == nil {
		err = e.Preflight(context.Background())
	}
	if err != nil {
		skipReason = err.Error()
		fmt.Println("e2e: every scenario is skipped:", skipReason)
		if os.Getenv("E2E_REQUIRE") == "1" {
			fmt.Println("e2e: E2E_REQUIRE=1, so a skipped suite is a failure")
			os.Exit(1)
		}
	} else {
		env = e
	}
	restore := tuneOperator()
	code := m.Run()
	if restore != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		if err := restore(ctx); err != nil {
			fmt.Println("e2e: restoring the operator's arguments:", err)
		}
		cancel()
	}
	if env != nil && prom != nil && os.Getenv("E2E_KEEP_PROMETHEUS") == "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := env.DeletePrometheus(ctx); err != nil {
			fmt.Println("e2e: removing Prometheus:", err)
		}
		cancel()
	}
	os.Exit(code)
}

// tuneOperator sets the operator's --poll-interval to E2E_OPERATOR_POLL_INTERVAL (default 2s)
// for the suite, so that trigger scenarios do not wait 30 s per evaluation ("off" leaves it), and
// allows the suite's Prometheus (--prometheus-allowed-addresses: the operator queries no other).
func tuneOperator() func(context.Context) error {
	if env == nil {
		return nil
	}
	flags := suiteOperatorFlags()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	restore, err := env.SetOperatorFlags(ctx, flags)
	if err != nil {
		fmt.Println("e2e: could not set the operator's flags (trigger scenarios will be slow or fail):", flags, err)
		return restore
	}
	if restore != nil {
		fmt.Println("e2e: operator flags set for the suite (restored at the end):", flags)
	}
	return restore
}

// suiteOperatorFlags are the operator flags the suite sets for its run (tuneOperator; a scenario
// that reinstalls Elasti sets them again).
func suiteOperatorFlags() map[string]string {
	flags := map[string]string{"prometheus-allowed-addresses": framework.PrometheusInClusterURL}
	interval := os.Getenv("E2E_OPERATOR_POLL_INTERVAL")
	if interval == "" {
		interval = "2s"
	}
	if interval != "off" {
		flags["poll-interval"] = interval
	}
	return flags
}

// requireEnv skips the test, printing why, when the cluster is not usable.
func requireEnv(t *testing.T) {
	t.Helper()
	if env == nil {
		framework.Skip(t, "%s", skipReason)
	}
}

// requirePrometheus deploys the suite's Prometheus once; a failure fails the calling test.
func requirePrometheus(t *testing.T, ctx context.Context) *framework.Prometheus {
	t.Helper()
	promOnce.Do(func() { prom, promErr = env.EnsurePrometheus(ctx) })
	if promErr != nil {
		t.Fatalf("Prometheus (image %s, built by hack/prometheus/build.sh and loaded by `make e2e-images`) is not usable: %v",
			env.Config.PrometheusImage, promErr)
	}
	return prom
}

// fixture is one test's namespace (opted in) with a gateway carrying the sidecar.
type fixture struct {
	t   *testing.T
	ctx context.Context
	ns  *framework.Namespace
	// gw is an HTTP client whose connections go to the first gateway pod.
	gw     *httpClient
	gwPods []string
}

// setup creates the namespace and, unless gateways is 0, a gateway Deployment with that many
// replicas. The namespace is deleted at the end; on failure its state is printed first.
func setup(t *testing.T, prefix string, gateways int32) *fixture {
	t.Helper()
	requireEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), env.Config.Scale(10*time.Minute))
	t.Cleanup(cancel)
	ns, err := env.CreateNamespace(ctx, "e2e-"+prefix, framework.NamespaceOptions{OptIn: true})
	if ns != nil {
		t.Cleanup(func() { cleanupNamespace(t, ns) })
	}
	if err != nil {
		t.Fatalf("creating the test namespace: %v", err)
	}
	f := &fixture{t: t, ctx: ctx, ns: ns}
	if gateways > 0 {
		if err := ns.DeployGateway(ctx, "gateway", gateways, nil); err != nil {
			t.Fatalf("deploying the gateway: %v", err)
		}
		pods, err := ns.GatewayPods(ctx, "gateway")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			f.gwPods = append(f.gwPods, p.Status.PodIP)
		}
		f.gw = newHTTPClient(f.gwPods[0] + ":8080")
	}
	return f
}

func cleanupNamespace(t *testing.T, ns *framework.Namespace) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if t.Failed() {
		var b strings.Builder
		ns.Dump(ctx, &b)
		dumpSystem(ctx, &b)
		t.Log("\n" + b.String())
	}
	if os.Getenv("E2E_KEEP_NAMESPACES") != "" {
		t.Logf("keeping namespace %s (E2E_KEEP_NAMESPACES)", ns.Name)
		return
	}
	if err := ns.Delete(ctx); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// step logs a step with the time since the test started.
func step(t *testing.T, start time.Time, format string, args ...any) {
	t.Helper()
	t.Logf("[%6.2fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

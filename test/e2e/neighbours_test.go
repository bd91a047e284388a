//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// neighbourDeployments are the Deployments (namespace/name) that must be available for a
// neighbour to count as installed (hack/neighbours.sh).
var neighbourDeployments = map[string][]string{
	"cert-manager": {"cert-manager/cert-manager", "cert-manager/cert-manager-cainjector", "cert-manager/cert-manager-webhook"},
	"keda":         {"keda/keda-operator", "keda/keda-metrics-apiserver"},
}

// requireNeighbour makes sure cert-manager or KEDA runs in the cluster: when it does not, it is
// built (cached), loaded and installed with hack/neighbours.sh. A suite that runs outside this
// repository (the compiled suite inside the kind node) cannot do that and skips, saying how to
// install it; a build or install that fails fails the test.
//
// In CI (E2E_NEIGHBOURS_BUILT set, even empty) the suite builds nothing: hack/ci-e2e.sh built the
// neighbours its time budget allowed, and names them there. A neighbour not named skips, saying
// so: its first build did not fit in this run (the Go build cache keeps what was compiled).
func requireNeighbour(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if neighbourInstalled(ctx, name) {
		return
	}
	if built, ci := os.LookupEnv("E2E_NEIGHBOURS_BUILT"); ci && !slices.Contains(strings.Fields(built), name) {
		framework.Skip(t, "%s was not built in this CI run: its first build from source did not fit in the run's time budget "+
			"(hack/ci-e2e.sh, neighbours phase, built %q; the Go build cache keeps its progress for the next run)", name, built)
	}
	if _, err := repoCheckout(); err != nil {
		framework.Skip(t, "%s is not installed and this suite cannot install it (%v); install it with `hack/neighbours.sh build %s && hack/neighbours.sh load %s && hack/neighbours.sh install %s`",
			name, err, name, name, name)
	}
	for _, step := range []string{"build", "load", "install"} {
		runRepo(t, ctx, 25*time.Minute, "hack/neighbours.sh", step, name)
	}
	if !neighbourInstalled(ctx, name) {
		t.Fatalf("hack/neighbours.sh installed %s, but its Deployments %v are not available", name, neighbourDeployments[name])
	}
}

func neighbourInstalled(ctx context.Context, name string) bool {
	for _, nn := range neighbourDeployments[name] {
		ns, n, _ := strings.Cut(nn, "/")
		d, err := env.Kube.AppsV1().Deployments(ns).Get(ctx, n, metav1.GetOptions{})
		if err != nil || d.Status.AvailableReplicas < 1 {
			return false
		}
	}
	return true
}

// repoCheckout is the repository the suite was started from (go test runs in test/e2e).
func repoCheckout() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root := filepath.Clean(filepath.Join(wd, "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "hack", "neighbours.sh")); err != nil {
		return "", fmt.Errorf("no hack/neighbours.sh under %s", root)
	}
	return root, nil
}

// runRepo runs a command of the repository (from its root, with the suite's KUBECONFIG) and
// fails the test with its output when it fails.
func runRepo(t *testing.T, ctx context.Context, timeout time.Duration, name string, args ...string) {
	t.Helper()
	root, err := repoCheckout()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, env.Config.Scale(timeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Config.Kubeconfig)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("%s %s (%.1fs):\n%s", name, strings.Join(args, " "), time.Since(start).Seconds(), tail(out.String(), 40))
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("(%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// installElasti applies the install bundle of an overlay (`make install OVERLAY=...`, which waits
// for the rollouts) and sets the suite's operator flags again, which the bundle resets.
func installElasti(t *testing.T, ctx context.Context, overlay string) {
	t.Helper()
	runRepo(t, ctx, 10*time.Minute, "make", "install", "OVERLAY="+overlay, "INSTALL_KUBECONFIG="+env.Config.Kubeconfig)
	if _, err := env.SetOperatorFlags(ctx, suiteOperatorFlags()); err != nil {
		t.Fatalf("setting the suite's operator flags again: %v", err)
	}
}

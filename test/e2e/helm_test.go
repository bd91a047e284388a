//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// repoRoot is the repository's top directory (go test runs the suite in test/e2e).
const repoRoot = "../.."

// TestHelmInstall: Elasti installed with the Helm chart (charts/elasti, helm built from source by
// hack/build-helm.sh) in place of the kustomize install works: the self-managed webhook writes
// its certificate and caBundle, a gateway pod of an opted-in namespace gets the sidecar, and a
// Service at zero is woken by a request through it. The kustomize install (self-managed overlay)
// is put back afterwards, with the suite's operator flags, whatever happened.
func TestHelmInstall(t *testing.T) {
	requireEnv(t)
	helm, why := helmBinary(t)
	if helm == "" {
		framework.Skip(t, "%s", why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), env.Config.Scale(15*time.Minute))
	defer cancel()
	if mode := webhookCertMode(t, ctx); mode != "self-managed" {
		framework.Skip(t, "Elasti is installed with --cert-mode=%s here; this scenario reinstalls the self-managed kustomize overlay afterwards, so it runs only where that is what was installed", mode)
	}
	start := time.Now()

	step(t, start, "uninstalling the kustomize install (make uninstall)")
	if out, err := runIn(ctx, repoRoot, "make", "uninstall", "INSTALL_KUBECONFIG="+env.Config.Kubeconfig); err != nil {
		t.Fatalf("make uninstall: %v\n%s", err, out)
	}
	t.Cleanup(func() { restoreKustomizeInstall(t, helm, start) })

	step(t, start, "creating namespace %s and installing the chart", env.Config.SystemNamespace)
	createSystemNamespace(t, ctx)
	tag := os.Getenv("E2E_IMAGE_TAG") // the tag of the images make images built and loaded
	if tag == "" {
		tag = framework.DefaultImageTag
	}
	out, err := runIn(ctx, repoRoot, helm, "install", "elasti", "charts/elasti", "--kubeconfig", env.Config.Kubeconfig,
		"--namespace", env.Config.SystemNamespace, "--wait", "--timeout", "5m",
		"--set", "images.operator.tag="+tag+",images.webhook.tag="+tag+",images.sidecar.tag="+tag)
	if err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	step(t, start, "helm install done:\n%s", out)
	assertHelmOwned(t, ctx)

	f := setup(t, "helm", 1)
	gws, err := f.ns.GatewayPods(f.ctx, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range gws {
		assertSidecars(t, &p, 1)
	}
	step(t, start, "gateway pod injected by the chart's webhook")
	app := f.app(framework.AppOptions{Name: "app"}, nil)
	f.toZero(app)
	step(t, start, "app at zero in proxy mode")
	r := f.mustGet(f.url(app, 0, "/"), framework.AppMessage("app"))
	step(t, start, "woken by a request: %d in %s (held %s)", r.Status, r.Duration, framework.HeldFor(r.Header))
	if _, err := app.WaitState(f.ctx, env.Config.Scale(60*time.Second), "serve mode after the wake-up", framework.InServeMode); err != nil {
		t.Fatal(err)
	}
}

// helmBinary returns helm built by hack/build-helm.sh (cached; E2E_HELM names another), or why
// there is none.
func helmBinary(t *testing.T) (path, why string) {
	if p := os.Getenv("E2E_HELM"); p != "" {
		return p, ""
	}
	script := filepath.Join(repoRoot, "hack", "build-helm.sh")
	if _, err := os.Stat(script); err != nil {
		return "", "the repository (hack/build-helm.sh, charts/elasti, the Makefile) is not here, e.g. the suite runs compiled inside a kind node; set E2E_HELM and run it from test/e2e of a checkout"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	out, err := runIn(ctx, repoRoot, "hack/build-helm.sh")
	if err != nil {
		t.Fatalf("building helm with hack/build-helm.sh: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1], ""
}

// runIn runs a command in dir with KUBECONFIG set to the suite's and returns its output.
func runIn(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Config.Kubeconfig)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// webhookCertMode is the --cert-mode of the installed webhook ("files" when it is not given).
func webhookCertMode(t *testing.T, ctx context.Context) string {
	t.Helper()
	d, err := env.Kube.AppsV1().Deployments(env.Config.SystemNamespace).Get(ctx, "elasti-webhook", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the webhook Deployment: %v", err)
	}
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--cert-mode="); ok {
			return v
		}
	}
	return "files"
}

// createSystemNamespace creates Elasti's namespace with the labels of manifests/base/namespace.yaml
// (docs/install.md: Helm cannot create the namespace it installs into with labels).
func createSystemNamespace(t *testing.T, ctx context.Context) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: env.Config.SystemNamespace, Labels: map[string]string{
		"app.kubernetes.io/part-of":          "elasti",
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	}}}
	if _, err := env.Kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", ns.Name, err)
	}
}

// assertHelmOwned checks that what runs now is the chart's: the Deployments and the
// MutatingWebhookConfiguration carry Helm's labels, and the self-managed webhook has written
// the caBundle.
func assertHelmOwned(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, name := range []string{"elasti-operator", "elasti-webhook"} {
		d, err := env.Kube.AppsV1().Deployments(env.Config.SystemNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Labels["app.kubernetes.io/managed-by"] != "Helm" || d.Status.AvailableReplicas < 1 {
			t.Fatalf("Deployment %s: managed-by %q, %d available replicas; want Helm's, at least 1", name, d.Labels["app.kubernetes.io/managed-by"], d.Status.AvailableReplicas)
		}
	}
	err := framework.Poll(ctx, env.Config.Scale(60*time.Second), time.Second, "the webhook writing the caBundle of the chart's MutatingWebhookConfiguration",
		func(ctx context.Context) (bool, string, error) {
			m, err := env.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "elasti-webhook", metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			n := len(m.Webhooks[0].ClientConfig.CABundle)
			return m.Labels["app.kubernetes.io/managed-by"] == "Helm" && n > 0, fmt.Sprintf("managed-by %q, caBundle %d bytes", m.Labels["app.kubernetes.io/managed-by"], n), nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

// restoreKustomizeInstall removes the Helm release and applies the kustomize install again
// (make install), then sets the suite's operator flags, so that the following scenarios find
// Elasti as the suite left it. A failure here fails the test.
func restoreKustomizeInstall(t *testing.T, helm string, start time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), env.Config.Scale(8*time.Minute))
	defer cancel()
	step(t, start, "restoring the kustomize install: helm uninstall, make install")
	if out, err := runIn(ctx, repoRoot, helm, "uninstall", "elasti", "--kubeconfig", env.Config.Kubeconfig,
		"--namespace", env.Config.SystemNamespace, "--wait", "--timeout", "3m", "--ignore-not-found"); err != nil {
		t.Errorf("helm uninstall: %v\n%s", err, out)
	}
	if out, err := runIn(ctx, repoRoot, "make", "install", "INSTALL_KUBECONFIG="+env.Config.Kubeconfig); err != nil {
		t.Errorf("make install (restoring the kustomize install): %v\n%s", err, out)
		return
	}
	if _, err := env.SetOperatorFlags(ctx, suiteOperatorFlags()); err != nil {
		t.Errorf("setting the suite's operator flags again: %v", err)
	}
	step(t, start, "kustomize install restored")
}

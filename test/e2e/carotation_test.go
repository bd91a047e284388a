//go:build e2e

package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// Self-managed mode's Secrets (webhook/internal/certs).
const (
	caSecret      = "elasti-ca"
	servingSecret = "elasti-tls"
)

// TestCARotation (self-managed certificates only): the CA is replaced outright (its Secret
// deleted, the webhook restarted), so the operator's new certificate cannot be verified with the
// bundle a running sidecar got in its environment. The webhook publishes the new bundle into the
// namespace, the kubelet updates the sidecar's projected copy, and after the operator restarts the
// same sidecar container (not restarted) reconnects and wakes a Service from zero.
func TestCARotation(t *testing.T) {
	requireEnv(t)
	sys := env.Config.SystemNamespace
	if _, err := env.Kube.CoreV1().Secrets(sys).Get(context.Background(), caSecret, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		framework.Skip(t, "no Secret %s/%s, so the webhook does not manage the CA here (cert-manager mode); "+
			"rotating a cert-manager CA is cert-manager's job", sys, caSecret)
	}
	f := setup(t, "carotation", 1)
	start := time.Now()
	app := f.app(framework.AppOptions{Name: "app"}, nil)
	f.toZero(app)
	gw := gatewayPod0(t, f)
	injected := sidecarEnv(gw, names.EnvCABundle)
	if injected == "" {
		t.Fatalf("the sidecar has no %s", names.EnvCABundle)
	}
	sidecarBefore, otherBefore := containerIDs(gw)

	if err := env.Kube.CoreV1().Secrets(sys).Delete(f.ctx, caSecret, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	restartDeployment(t, f.ctx, sys, "elasti-webhook")
	step(t, start, "CA Secret deleted and the webhook restarted: it creates a new CA")

	var published string
	err := framework.Poll(f.ctx, env.Config.Scale(2*time.Minute), time.Second, "the new bundle published in the namespace and the operator's certificate re-issued",
		func(ctx context.Context) (bool, string, error) {
			cm, err := env.Kube.CoreV1().ConfigMaps(f.ns.Name).Get(ctx, names.OperatorCAConfigMap, metav1.GetOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			published = cm.Data[names.OperatorCAKey]
			s, err := env.Kube.CoreV1().Secrets(sys).Get(ctx, servingSecret, metav1.GetOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			oldTrustsIt := verifies(injected, s.Data["tls.crt"])
			newTrustsIt := verifies(published, s.Data["tls.crt"])
			return published != injected && !oldTrustsIt && newTrustsIt,
				fmt.Sprintf("bundle changed=%v, certificate verifiable with the injected bundle=%v, with the published one=%v", published != injected, oldTrustsIt, newTrustsIt), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	step(t, start, "new bundle published (%d bytes); the injected bundle no longer verifies the operator", len(published))

	restartDeployment(t, f.ctx, sys, "elasti-operator")
	step(t, start, "operator restarted with the new certificate: every sidecar stream reconnects")
	metricsURL := fmt.Sprintf("http://%s:%d/metrics", f.gwPods[0], names.DefaultAdminPort)
	err = framework.Poll(f.ctx, env.Config.Scale(3*time.Minute), time.Second, "the sidecar's stream connected again (the kubelet updates the projected bundle within about a minute)",
		func(ctx context.Context) (bool, string, error) {
			v, err := metricValue(ctx, metricsURL, "elasti_sidecar_stream_connected")
			return err == nil && v == "1", fmt.Sprintf("stream_connected=%q err=%v", v, err), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	step(t, start, "the sidecar reconnected through the rotated bundle")
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("app"))
	step(t, start, "woken from zero through the same sidecar")

	after := gatewayPod0(t, f)
	sidecarAfter, otherAfter := containerIDs(after)
	if sidecarAfter != sidecarBefore || otherAfter != otherBefore {
		t.Errorf("the gateway pod's containers changed (sidecar %s → %s, other restarts %d → %d): the bundle must reach the running sidecar",
			sidecarBefore, sidecarAfter, otherBefore, otherAfter)
	}
}

func gatewayPod0(t *testing.T, f *fixture) *corev1.Pod {
	t.Helper()
	pods, err := f.ns.GatewayPods(f.ctx, "gateway")
	if err != nil || len(pods) == 0 {
		t.Fatalf("gateway pods: %d, %v", len(pods), err)
	}
	return &pods[0]
}

func sidecarEnv(p *corev1.Pod, name string) string {
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		if c.Name != names.SidecarContainerName {
			continue
		}
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value
			}
		}
	}
	return ""
}

// verifies reports whether the first certificate of certPEM chains to a CA of bundle.
func verifies(bundle string, certPEM []byte) bool {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(bundle)) {
		return false
	}
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return false
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return false
	}
	_, err = c.Verify(x509.VerifyOptions{Roots: pool})
	return err == nil
}

// restartDeployment does what kubectl rollout restart does and waits for the rollout.
func restartDeployment(t *testing.T, ctx context.Context, ns, name string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
	d, err := env.Kube.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("restarting %s/%s: %v", ns, name, err)
	}
	if err := env.WaitRollout(ctx, d, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// metricValue reads one unlabelled metric from a Prometheus text page.
func metricValue(ctx context.Context, url, name string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s not on %s", name, url)
}

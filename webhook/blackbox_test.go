//go:build blackbox

package webhook

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/elasti-dev/elasti/internal/freeport"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/pkg/names"
)

// blackboxPods is how many pods are created in each namespace.
const blackboxPods = 100

// TestBlackbox builds cmd/webhook, runs it as a separate process in self-managed certificate mode
// against a real API server (envtest's kube-apiserver and etcd) with the shipped
// MutatingWebhookConfiguration, and checks from outside: pods of the annotated namespace get the
// sidecar exactly once, pods elsewhere are untouched, garbage bodies get an error response (code
// 400, 413 for a body over 7 MiB) and no mutation. It logs the figures.
//
//	go test -tags blackbox -run TestBlackbox -v ./webhook/
func TestBlackbox(t *testing.T) {
	bin := buildWebhook(t)
	env := testenv.Start(t, nil)
	ctx := context.Background()
	c := env.Client
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: names.SystemNamespace}}))

	port, metricsPort, probePort := freePort(t), freePort(t), freePort(t)
	installMWC(t, c, fmt.Sprintf("https://localhost:%d%s", port, Path))
	certDir := t.TempDir()
	logFile := startBinary(t, bin, kubeconfig(t, env), []string{
		"--sidecar-image=elasti/sidecar:blackbox", fmt.Sprintf("--port=%d", port),
		"--cert-mode=self-managed", "--cert-dir=" + certDir, "--cert-dns-names=localhost,elasti-webhook.elasti-system.svc",
		"--namespace=" + names.SystemNamespace, "--leader-elect=true",
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort), fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
	})
	waitReady(t, c, probePort, logFile)

	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "edge", Annotations: map[string]string{names.AnnotationInject: names.InjectEnabled, names.AnnotationGatewaySelector: "app=gateway"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "plain"}},
	} {
		require.NoError(t, c.Create(ctx, ns))
	}
	require.Eventually(t, func() bool {
		ns := &corev1.Namespace{}
		return c.Get(ctx, client.ObjectKey{Name: "edge"}, ns) == nil && ns.Labels[names.LabelInject] == names.InjectEnabled
	}, 30*time.Second, 100*time.Millisecond, "namespace label mirrored")

	edge := createPods(t, c, "edge")
	plain := createPods(t, c, "plain")
	t.Logf("pod create latency (client side, %d pods each): edge (webhook called) p50=%v p99=%v; plain (not called) p50=%v p99=%v",
		blackboxPods, pct(edge, 50), pct(edge, 99), pct(plain, 50), pct(plain, 99))

	codes := garbage(t, port, certDir)
	t.Logf("garbage bodies: %v", codes)
	metrics := scrape(t, metricsPort)
	t.Logf("metrics:\n%s", metrics)
	assert.Contains(t, metrics, fmt.Sprintf(`elasti_webhook_admissions_total{reason="Injected",result="injected"} %d`, blackboxPods))
	assert.NotContains(t, metrics, `reason="NamespaceNotEnabled"`, "namespaces that did not opt in never call the webhook")
}

func buildWebhook(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "webhook")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/webhook")
	cmd.Dir = testenv.RepoRoot()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/webhook: %s", out)
	return bin
}

func kubeconfig(t *testing.T, env *testenv.Env) string {
	t.Helper()
	user, err := env.AddUser(envtest.User{Name: "blackbox", Groups: []string{"system:masters"}}, nil)
	require.NoError(t, err)
	b, err := user.KubeConfig()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

// installMWC installs the shipped MutatingWebhookConfiguration, pointed at url, without a
// caBundle: the binary writes it.
func installMWC(t *testing.T, c client.Client, url string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "manifests", "base", "webhook", "mutatingwebhookconfiguration.yaml"))
	require.NoError(t, err)
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	require.NoError(t, yaml.UnmarshalStrict(b, mwc))
	mwc.Webhooks[0].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url}
	require.NoError(t, c.Create(context.Background(), mwc))
}

func startBinary(t *testing.T, bin, kubeconfig string, args []string) string {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "webhook.log")
	f, err := os.Create(logFile)
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
		_ = f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("webhook log:\n%s", b)
		}
	})
	return logFile
}

func waitReady(t *testing.T, c client.Client, probePort int, logFile string) {
	t.Helper()
	start := time.Now()
	require.Eventually(t, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort))
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
		return resp.StatusCode == http.StatusOK && c.Get(context.Background(), client.ObjectKey{Name: "elasti-webhook"}, mwc) == nil &&
			len(mwc.Webhooks[0].ClientConfig.CABundle) > 0
	}, 60*time.Second, 100*time.Millisecond, "webhook ready and caBundle written (log %s)", logFile)
	t.Logf("binary ready with its self-managed certificate and caBundle after %v", time.Since(start).Round(time.Millisecond))
}

func createPods(t *testing.T, c client.Client, ns string) []time.Duration {
	t.Helper()
	lat := make([]time.Duration, 0, blackboxPods)
	for i := range blackboxPods {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "gw-", Namespace: ns, Labels: map[string]string{"app": "gateway"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "envoy", Image: "envoyproxy/envoy:v1.31.0"}}},
		}
		start := time.Now()
		require.NoError(t, c.Create(context.Background(), pod), "pod %d", i)
		lat = append(lat, time.Since(start))
		want := 0
		if ns == "edge" {
			want = 1
		}
		got := &corev1.Pod{}
		require.NoError(t, c.Get(context.Background(), client.ObjectKeyFromObject(pod), got))
		require.Equal(t, want, sidecarCount(got), "pod %s/%s", ns, pod.Name)
	}
	return lat
}

func sidecarCount(pod *corev1.Pod) int {
	n := 0
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if c.Name == names.SidecarContainerName {
			n++
		}
	}
	return n
}

// garbage posts malformed bodies straight to the binary over TLS (trusting its own CA) and
// returns the code of each answer: controller-runtime's serving answers HTTP 200 with an
// AdmissionReview whose response is an error carrying the code.
func garbage(t *testing.T, port int, certDir string) map[string]int {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(ca))
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	url := fmt.Sprintf("https://localhost:%d%s", port, Path)
	cases := []struct {
		name string
		body []byte
		want int
	}{
		{"not json", []byte("garbage"), http.StatusBadRequest},
		{"empty object", []byte("{}"), http.StatusBadRequest},
		{"review without request", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), http.StatusBadRequest},
		{"binary", []byte{0, 1, 2, 0xff, 0xfe}, http.StatusBadRequest},
		{"8 MiB", bytes.Repeat([]byte("x"), 8<<20), http.StatusRequestEntityTooLarge},
	}
	got := map[string]int{}
	for _, tc := range cases {
		resp, err := hc.Post(url, "application/json", bytes.NewReader(tc.body))
		require.NoError(t, err, tc.name)
		var out admissionv1.AdmissionReview
		err = json.NewDecoder(resp.Body).Decode(&out)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, tc.name)
		require.NoError(t, err, tc.name)
		require.NotNil(t, out.Response, tc.name)
		require.NotNil(t, out.Response.Result, tc.name)
		assert.False(t, out.Response.Allowed, tc.name)
		assert.Nil(t, out.Response.Patch, tc.name)
		got[tc.name] = int(out.Response.Result.Code)
		assert.Equal(t, tc.want, got[tc.name], tc.name)
	}
	return got
}

func scrape(t *testing.T, port int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	require.NoError(t, err)
	defer resp.Body.Close()
	var keep []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "elasti_webhook_") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func freePort(t *testing.T) int {
	t.Helper()
	return freeport.Loopback(t)
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100].Round(10 * time.Microsecond)
}

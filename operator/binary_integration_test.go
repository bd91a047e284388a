//go:build integration

package operator_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/freeport"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/operator/internal/auth/authtest"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/stream"
)

const operatorUser = "system:serviceaccount:elasti-system:elasti-operator"

// TestIntegrationOperatorBinary runs the built cmd/operator as a black box against a real API
// server, authenticated as the operator's ServiceAccount with nothing but the generated RBAC
// (manifests/base/rbac/operator) and the bindings of manifests/base/operator: the controller puts
// a target at zero in proxy mode, the elastiserver answers bad RequestCounts with their codes and
// a valid one (a bound sidecar token) scales the target to minTargetReplicas. Any "forbidden" in
// the operator's log fails the test.
func TestIntegrationOperatorBinary(t *testing.T) {
	env := testenv.Start(t, nil)
	c := env.Client
	ctx := context.Background()
	for _, ns := range []string{names.SystemNamespace, "shop", "plain"} {
		require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	edge := authtest.OptedInNamespace("")
	edge.Name = "edge"
	require.NoError(t, c.Create(ctx, edge))
	applyYAML(t, c, "manifests/base/rbac/operator/role.yaml", "manifests/base/operator/serviceaccount.yaml", "manifests/base/operator/rbac-bindings.yaml",
		"manifests/base/operator/trigger-auth-rbac.yaml", // not bound: the operator must work without it
		// Not run here (no kubelet), but validated by the API server.
		"manifests/base/operator/deployment.yaml", "manifests/base/operator/service.yaml", "manifests/base/operator/pdb.yaml")
	kubeconfig := operatorKubeconfig(t, env)
	dir := t.TempDir()
	caPool := writeServingCert(t, dir)
	ports := freePorts(t, 3)
	logs, _ := startOperator(t, dir, kubeconfig, ports)
	base := fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool}}}
	require.Eventually(t, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[2]))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "operator never became ready; log:\n%s", logs)

	pod := createWorld(t, c)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		es := &v1alpha1.ElastiService{}
		require.NoError(ct, c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "orders"}, es))
		assert.Equal(ct, v1alpha1.ModeProxy, es.Status.Mode)
		slice := &discoveryv1.EndpointSlice{}
		assert.NoError(ct, c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "orders-elasti-ipv4"}, slice))
	}, 30*time.Second, 100*time.Millisecond, "log:\n%s", logs)

	token := sidecarToken(t, env.Config, pod)
	post := func(method, bearer, body string) int {
		req, err := http.NewRequest(method, base+stream.IncomingRequestPath, strings.NewReader(body))
		require.NoError(t, err)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	valid := `{"count":1,"svc":"orders","namespace":"shop"}`
	assert.Equal(t, http.StatusUnauthorized, post(http.MethodPost, "", valid))
	assert.Equal(t, http.StatusUnauthorized, post(http.MethodPost, "not-a-token", valid))
	assert.Equal(t, http.StatusMethodNotAllowed, post(http.MethodGet, token, ""))
	assert.Equal(t, http.StatusBadRequest, post(http.MethodPost, token, `{"count":1,"svc":"orders"`))
	assert.Equal(t, http.StatusNotFound, post(http.MethodPost, token, `{"count":1,"svc":"nothing","namespace":"shop"}`))
	reviewsBefore := metricSum(t, ports[1], "elasti_operator_tokenreviews_total")
	for i := range 1000 {
		require.Equal(t, http.StatusUnauthorized, post(http.MethodPost, fmt.Sprintf("garbage-%d.x.y", i), valid))
	}
	assert.Equal(t, reviewsBefore, metricSum(t, ports[1], "elasti_operator_tokenreviews_total"), "1,000 garbage tokens cost no TokenReview")
	forged, err := authtest.CreateSidecar(ctx, c, authtest.SidecarPod("plain", "forged", "gw"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, post(http.MethodPost, sidecarToken(t, env.Config, forged), valid),
		"a sidecar pod in a namespace that did not opt in")
	assert.Equal(t, http.StatusAccepted, post(http.MethodPost, token, valid))
	assert.Greater(t, metricSum(t, ports[1], "elasti_operator_tokenreviews_total"), reviewsBefore, "the metric counts real reviews")
	d := &appsv1.Deployment{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "orders"}, d))
	assert.Equal(t, int32(2), ptr.Deref(d.Spec.Replicas, 0), "scaled from 0 to minTargetReplicas")

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[1]))
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(metrics), `elasti_operator_mode{elastiservice="orders",mode="proxy",namespace="shop"} 1`)
	assert.NotContains(t, logs.String(), "forbidden", "the generated RBAC lacks a permission")
}

// metricSum adds up every series of a metric on the operator's /metrics.
func metricSum(t *testing.T, port int, name string) float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	sum := 0.0
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok && (strings.HasPrefix(rest, "{") || strings.HasPrefix(rest, " ")) {
			var v float64
			_, err := fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v)
			require.NoError(t, err, line)
			sum += v
		}
	}
	return sum
}

// createWorld makes a Deployment at zero, its Service, a ready sidecar pod and an ElastiService.
func createWorld(t *testing.T, c client.Client) *corev1.Pod {
	ctx := context.Background()
	labels := map[string]string{"app": "orders"}
	objs := []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop"}, Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop"}, Spec: corev1.ServiceSpec{
			Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "edge"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "plain"}},
		&v1alpha1.ElastiService{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop"}, Spec: v1alpha1.ElastiServiceSpec{
			Service: "orders", MinTargetReplicas: 2,
			ScaleTargetRef: v1alpha1.ScaleTargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "orders"}}},
	}
	for _, o := range objs {
		require.NoError(t, c.Create(ctx, o))
	}
	pod, err := authtest.CreateSidecar(ctx, c, authtest.SidecarPod("edge", "gw-1", "gw"))
	require.NoError(t, err)
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}},
		InitContainerStatuses: []corev1.ContainerStatus{{Name: names.SidecarContainerName, Ready: true, Image: "resolver", ImageID: "resolver"}}}
	require.NoError(t, c.Status().Update(ctx, pod))
	return pod
}

// sidecarToken is what the kubelet would project into the sidecar: a token of the pod's
// ServiceAccount, bound to the pod, with Elasti's audience.
func sidecarToken(t *testing.T, cfg *rest.Config, pod *corev1.Pod) string {
	token, err := authtest.Token(context.Background(), cfg, pod, names.DefaultAudience)
	require.NoError(t, err)
	return token
}

func applyYAML(t *testing.T, c client.Client, files ...string) {
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), f))
		require.NoError(t, err)
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err == io.EOF {
				break
			} else {
				require.NoError(t, err, f)
			}
			if len(u.Object) > 0 {
				require.NoError(t, c.Create(context.Background(), u), "%s: %s %s", f, u.GetKind(), u.GetName())
			}
		}
	}
}

func operatorKubeconfig(t *testing.T, env *testenv.Env) string {
	user, err := env.AddUser(envtest.User{Name: operatorUser,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:elasti-system", "system:authenticated"}}, nil)
	require.NoError(t, err)
	kc, err := user.KubeConfig()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, kc, 0o600))
	return path
}

// writeServingCert writes a self-signed tls.crt/tls.key for 127.0.0.1 and returns a pool trusting it.
func writeServingCert(t *testing.T, dir string) *x509.CertPool {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "elasti-operator"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func freePorts(t *testing.T, n int) []int {
	var out []int
	for range n {
		out = append(out, freeport.Loopback(t))
	}
	return out
}

// syncBuffer collects the operator's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startOperator builds cmd/operator and runs it until the test ends.
func startOperator(t *testing.T, dir, kubeconfig string, ports []int) (*syncBuffer, *exec.Cmd) {
	bin := filepath.Join(dir, "operator")
	build := exec.Command("go", "build", "-o", bin, "./cmd/operator")
	build.Dir = testenv.RepoRoot()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/operator: %s", out)
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "--kubeconfig="+kubeconfig, "--cert-dir="+dir,
		fmt.Sprintf("--elastiserver-bind-address=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ports[1]),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", ports[2]),
		"--leader-elect", "--leader-election-namespace="+names.SystemNamespace, "--poll-interval=1s",
		"--sidecar-image="+authtest.Image)
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("operator log:\n%s", logs.String())
		}
	})
	return logs, cmd
}

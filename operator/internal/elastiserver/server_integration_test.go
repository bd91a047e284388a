//go:build integration

package elastiserver_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/operator/internal/auth"
	"github.com/elasti-dev/elasti/operator/internal/auth/authtest"
	"github.com/elasti-dev/elasti/operator/internal/cacheopts"
	"github.com/elasti-dev/elasti/operator/internal/elastiserver"
	"github.com/elasti-dev/elasti/operator/internal/trust"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/scaling"
	"github.com/elasti-dev/elasti/pkg/stream"
)

// selfSigned writes tls.crt and tls.key for 127.0.0.1 into dir and returns a pool trusting it.
func selfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "elasti-operator"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"elasti-operator.elasti-system.svc"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
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

// fixture: an API server, a manager running the elastiserver over TLS, a target at zero behind
// a Service with an ElastiService, and a real sidecar pod with a bound token.
type fixture struct {
	env    *testenv.Env
	url    string
	http   *http.Client
	token  string
	pod    *corev1.Pod
	shop   string
	es     *v1alpha1.ElastiService
	cancel context.CancelFunc
}

func setup(t *testing.T) *fixture {
	t.Helper()
	e := testenv.Start(t, nil)
	ctx := context.Background()
	f := &fixture{env: e}
	shop := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "shop-"}}
	edge := authtest.OptedInNamespace("edge-")
	require.NoError(t, e.Client.Create(ctx, shop))
	require.NoError(t, e.Client.Create(ctx, edge))
	require.NoError(t, e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: names.SystemNamespace}}))
	f.shop = shop.Name
	f.createTarget(t)

	pod, err := authtest.CreateSidecar(ctx, e.Client, authtest.SidecarPod(edge.Name, "gw-1", "gateway"))
	require.NoError(t, err)
	f.pod = pod
	f.token, err = authtest.Token(ctx, e.Config, pod, names.DefaultAudience)
	require.NoError(t, err)

	mgr, err := manager.New(e.Config, manager.Options{Scheme: e.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cacheopts.Options(names.SystemNamespace)}) // trimmed objects, as in the operator
	require.NoError(t, err)
	sh, err := scaling.NewForConfig(e.Config, mgr.GetClient(), mgr.GetRESTMapper())
	require.NoError(t, err)
	certDir := t.TempDir()
	pool := selfSigned(t, certDir)
	policy, err := trust.NewPolicy(authtest.Image, "")
	require.NoError(t, err)
	srv, err := elastiserver.New(elastiserver.Options{
		BindAddress: "127.0.0.1:0", CertDir: certDir,
		Client: mgr.GetClient(), Cache: mgr.GetCache(), ScaleHandler: sh,
		Authenticator: auth.New(auth.Options{Reviewer: mgr.GetClient(), Pods: mgr.GetClient(), Trust: &trust.Checker{Policy: policy, Namespaces: mgr.GetClient()}}),
	})
	require.NoError(t, err)
	require.NoError(t, mgr.Add(srv))
	mctx, cancel := context.WithCancel(ctx)
	f.cancel = cancel
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	require.Eventually(t, func() bool { return srv.Addr() != "" }, 30*time.Second, 20*time.Millisecond, "server listening")
	f.url = "https://" + srv.Addr()
	// HTTP/2, as the sidecar uses: many requests and the stream share one connection.
	f.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	return f
}

func (f *fixture) createTarget(t *testing.T) {
	ctx := context.Background()
	labels := map[string]string{"app": "orders"}
	require.NoError(t, f.env.Client.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.shop, Name: "orders"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "orders"}}}},
		},
	}))
	require.NoError(t, f.env.Client.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.shop, Name: "orders"},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
		}},
	}))
	f.es = &v1alpha1.ElastiService{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.shop, Name: "orders-es"},
		Spec: v1alpha1.ElastiServiceSpec{Service: "orders", MinTargetReplicas: 2,
			ScaleTargetRef: v1alpha1.ScaleTargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "orders"}},
	}
	require.NoError(t, f.env.Client.Create(ctx, f.es))
}

func (f *fixture) do(t *testing.T, method, path, token, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&sb)
	return resp, sb.String()
}

// messages opens the stream and returns a channel of its non-heartbeat messages.
func (f *fixture) messages(t *testing.T) <-chan stream.Message {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url+stream.StreamPath, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := f.http.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, stream.ContentType, resp.Header.Get("Content-Type"))
	require.Equal(t, 2, resp.ProtoMajor, "served over HTTP/2")
	out := make(chan stream.Message, 100)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var m stream.Message
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Type != stream.TypeHeartbeat {
				out <- m
			}
		}
	}()
	return out
}

// until reads messages until one makes ok true (failing after a generous guard timeout).
func until(t *testing.T, msgs <-chan stream.Message, ok func(stream.Message) bool) stream.Message {
	t.Helper()
	guard := time.After(30 * time.Second)
	for {
		select {
		case m, open := <-msgs:
			require.True(t, open, "stream ended")
			if ok(m) {
				return m
			}
		case <-guard:
			t.Fatal("expected stream message did not come")
		}
	}
}

func TestIntegrationElastiServer(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	msgs := f.messages(t)
	key := f.shop + "/orders"

	snap := <-msgs
	require.Equal(t, stream.TypeSnapshot, snap.Type)
	require.Equal(t, uint64(1), snap.Version)
	require.Len(t, snap.Services, 1)
	got := snap.Services[0]
	assert.Equal(t, key, got.Key())
	assert.Equal(t, stream.ModeServe, got.Mode)
	assert.Equal(t, []string{"orders", "orders." + f.shop, "orders." + f.shop + ".svc", "orders." + f.shop + ".svc.cluster.local"}, got.Hosts)
	assert.Equal(t, []stream.Port{{Name: "http", Port: 80, Protocol: "TCP"}}, got.Ports)
	assert.NotEmpty(t, got.ClusterIPs)

	t.Run("mode change reaches the stream", func(t *testing.T) {
		patch := client.RawPatch("application/merge-patch+json", []byte(`{"status":{"mode":"proxy"}}`))
		require.NoError(t, f.env.Client.Status().Patch(ctx, f.es.DeepCopy(), patch))
		m := until(t, msgs, func(m stream.Message) bool {
			return m.Type == stream.TypeUpdate && len(m.Services) == 1 && m.Services[0].Mode == stream.ModeProxy
		})
		assert.Greater(t, m.Version, snap.Version)
	})

	t.Run("endpoints of the Service's own slices, not Elasti's", func(t *testing.T) {
		for _, s := range []*discoveryv1.EndpointSlice{
			{
				ObjectMeta:  metav1.ObjectMeta{Namespace: f.shop, Name: "orders-elasti", Labels: map[string]string{discoveryv1.LabelServiceName: "orders", discoveryv1.LabelManagedBy: names.ControllerName}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.9.9.9"}}},
			},
			{
				ObjectMeta:  metav1.ObjectMeta{Namespace: f.shop, Name: "orders-abc", Labels: map[string]string{discoveryv1.LabelServiceName: "orders"}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
			},
		} {
			require.NoError(t, f.env.Client.Create(ctx, s))
		}
		m := until(t, msgs, func(m stream.Message) bool { return len(m.Services) == 1 && len(m.Services[0].Endpoints) > 0 })
		assert.Equal(t, []stream.Endpoint{{IP: "10.1.0.7", Ready: true, Ports: map[string]int32{"http": 8080}}}, m.Services[0].Endpoints)
	})

	t.Run("bad requests", func(t *testing.T) {
		resp, body := f.do(t, http.MethodPost, stream.IncomingRequestPath, "", `{"count":1,"svc":"orders","namespace":"`+f.shop+`"}`)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
		resp, body = f.do(t, http.MethodPost, stream.IncomingRequestPath, "forged", `{"count":1,"svc":"orders","namespace":"`+f.shop+`"}`)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
		resp, body = f.do(t, http.MethodPost, stream.IncomingRequestPath, f.token, `{"count":1,"svc":"nope","namespace":"`+f.shop+`"}`)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, body)
		resp, body = f.do(t, http.MethodPost, stream.IncomingRequestPath, f.token, `{"count":-1}`)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
		var e struct{ Error string }
		require.NoError(t, json.Unmarshal([]byte(body), &e))
		assert.Contains(t, e.Error, "count must be 0 (activity) or more")
	})

	t.Run("RequestCount scales the target from zero", func(t *testing.T) {
		resp, body := f.do(t, http.MethodPost, stream.IncomingRequestPath, f.token, `{"count":3,"svc":"orders","namespace":"`+f.shop+`"}`)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
		var ans elastiserver.IncomingRequestResponse
		require.NoError(t, json.Unmarshal([]byte(body), &ans))
		assert.Equal(t, elastiserver.IncomingRequestResponse{Service: key, State: elastiserver.StateScalingUp, Replicas: 2}, ans)
		d := &appsv1.Deployment{}
		require.NoError(t, f.env.Client.Get(ctx, client.ObjectKey{Namespace: f.shop, Name: "orders"}, d))
		assert.Equal(t, int32(2), *d.Spec.Replicas)
		es := &v1alpha1.ElastiService{}
		require.NoError(t, f.env.Client.Get(ctx, client.ObjectKeyFromObject(f.es), es))
		assert.NotEmpty(t, es.Annotations[names.AnnotationLastActivity])

		resp, body = f.do(t, http.MethodPost, stream.IncomingRequestPath, f.token, `{"count":1,"svc":"orders","namespace":"`+f.shop+`"}`)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
		require.NoError(t, json.Unmarshal([]byte(body), &ans))
		assert.Equal(t, elastiserver.StateReady, ans.State, "the stream state has a ready endpoint")
	})

	t.Run("ack is recorded in the sidecar's Lease, not on its pod", func(t *testing.T) {
		before := &corev1.Pod{}
		require.NoError(t, f.env.Client.Get(ctx, client.ObjectKeyFromObject(f.pod), before))
		resp, body := f.do(t, http.MethodPost, stream.AckPath, f.token, `{"version":3,"services":["`+key+`"]}`)
		require.Equal(t, http.StatusNoContent, resp.StatusCode, body)
		l := &coordinationv1.Lease{}
		require.NoError(t, f.env.Client.Get(ctx, client.ObjectKey{Namespace: names.SystemNamespace, Name: acks.LeaseName(f.pod.UID)}, l))
		assert.Equal(t, []string{key}, acks.Services(l))
		after := &corev1.Pod{}
		require.NoError(t, f.env.Client.Get(ctx, client.ObjectKeyFromObject(f.pod), after))
		assert.Equal(t, before.ResourceVersion, after.ResourceVersion, "the pod was not written")
		// A second sidecar replica's ack that adds a service reaches the same Lease incrementally.
		resp, body = f.do(t, http.MethodPost, stream.AckPath, f.token, `{"version":4,"services":["`+key+`","other/svc"]}`)
		require.Equal(t, http.StatusNoContent, resp.StatusCode, body)
		require.Eventually(t, func() bool {
			require.NoError(t, f.env.Client.Get(ctx, client.ObjectKeyFromObject(l), l))
			return len(acks.Services(l)) == 2
		}, 10*time.Second, 50*time.Millisecond)
	})

	t.Run("deleting the ElastiService removes the service from the stream", func(t *testing.T) {
		require.NoError(t, f.env.Client.Delete(ctx, f.es))
		until(t, msgs, func(m stream.Message) bool { return len(m.Removed) == 1 && m.Removed[0] == key })
	})
}

//go:build integration

package webhook

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/elasti-dev/elasti/internal/pki"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/webhook/internal/inject"
	"github.com/elasti-dev/elasti/webhook/internal/nslabel"
)

const testImage = "elasti/sidecar:integration"

// loadMWC reads the shipped MutatingWebhookConfiguration, so the test also checks its selectors.
func loadMWC(t *testing.T) *admissionregistrationv1.MutatingWebhookConfiguration {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "manifests", "base", "webhook", "mutatingwebhookconfiguration.yaml"))
	require.NoError(t, err)
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	require.NoError(t, yaml.UnmarshalStrict(b, mwc))
	return mwc
}

// startWebhook runs RunWithConfig (the same wiring as cmd/webhook) against env until the test ends.
func startWebhook(t *testing.T, env *testenv.Env, o Options) {
	t.Helper()
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(false)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunWithConfig(ctx, o, env.Config) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("webhook did not stop")
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", o.Port)
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			t.Fatalf("webhook exited: %v", err)
		default:
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness only
		if err != nil {
			return false
		}
		_ = conn.Close()
		return true
	}, 30*time.Second, 100*time.Millisecond, "webhook TLS server on %s", addr)
}

func gatewayPod(ns, name string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "gateway"}, Annotations: annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "envoy", Image: "envoyproxy/envoy:v1.31.0",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}},
	}
}

func sidecars(pod *corev1.Pod) int {
	n := 0
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if c.Name == names.SidecarContainerName {
			n++
		}
	}
	return n
}

func eventsWithReason(t *testing.T, c client.Client, ns, reason string) []eventsv1.Event {
	t.Helper()
	list := &eventsv1.EventList{}
	require.NoError(t, c.List(context.Background(), list, client.InNamespace(ns)))
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func TestIntegrationInjection(t *testing.T) {
	mwc := loadMWC(t)
	// envtest turns service+path into https://host:port/<path>; the path must not start with "/".
	path := strings.TrimPrefix(*mwc.Webhooks[0].ClientConfig.Service.Path, "/")
	mwc.Webhooks[0].ClientConfig.Service.Path = &path
	env := testenv.Start(t, &envtest.Environment{WebhookInstallOptions: envtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{mwc},
	}})
	wio := env.WebhookInstallOptions
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	require.NoError(t, os.WriteFile(caFile, wio.LocalServingCAData, 0o600))
	var o Options
	o.BindFlags(newFlagSet())
	o.SidecarImage, o.Port, o.CertDir, o.CABundleFile = testImage, wio.LocalServingPort, wio.LocalServingCertDir, caFile
	o.MetricsAddr, o.ProbeAddr, o.LeaderElect = "0", "0", false
	startWebhook(t, env, o)

	ctx := context.Background()
	c := env.Client
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "edge", Annotations: map[string]string{
			names.AnnotationInject: names.InjectEnabled, names.AnnotationGatewaySelector: "app=gateway"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "late"}},
	} {
		require.NoError(t, c.Create(ctx, ns))
	}
	require.Eventually(t, func() bool {
		ns := &corev1.Namespace{}
		return c.Get(ctx, client.ObjectKey{Name: "edge"}, ns) == nil && ns.Labels[names.LabelInject] == names.InjectEnabled
	}, 20*time.Second, 100*time.Millisecond, "the mirror labels the annotated namespace")

	t.Run("opted-in namespace: sidecar exactly once", func(t *testing.T) {
		pod := gatewayPod("edge", "gw-1", nil)
		require.NoError(t, c.Create(ctx, pod))
		assert.Equal(t, 1, sidecars(pod))
		require.Len(t, pod.Spec.InitContainers, 1, "native sidecar on a 1.37 API server")
		sc := pod.Spec.InitContainers[0]
		assert.Equal(t, corev1.ContainerRestartPolicyAlways, *sc.RestartPolicy)
		assert.Equal(t, testImage, sc.Image)
		assert.Equal(t, "true", pod.Labels[names.LabelResolver])
		assert.Contains(t, pod.Annotations, names.AnnotationSidecarStatus)
		assert.Equal(t, string(wio.LocalServingCAData), sc.Env[0].Value, "CA bundle from --ca-bundle-file")
	})
	t.Run("other namespace: untouched", func(t *testing.T) {
		pod := gatewayPod("other", "gw-1", map[string]string{names.AnnotationGateway: "true"})
		require.NoError(t, c.Create(ctx, pod))
		assert.Equal(t, 0, sidecars(pod))
		assert.NotContains(t, pod.Labels, names.LabelResolver)
	})
	t.Run("non-gateway pod in opted-in namespace: untouched", func(t *testing.T) {
		pod := gatewayPod("edge", "db-1", nil)
		pod.Labels = map[string]string{"app": "db"}
		require.NoError(t, c.Create(ctx, pod))
		assert.Equal(t, 0, sidecars(pod))
	})
	t.Run("server-side dry-run shows the sidecar and leaves no Event", func(t *testing.T) {
		bad := map[string]string{names.AnnotationSidecarLogLevel: "loud"}
		pod := gatewayPod("edge", "gw-dry", bad)
		require.NoError(t, c.Create(ctx, pod, client.DryRunAll))
		assert.Equal(t, 1, sidecars(pod))
		err := c.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{})
		assert.True(t, client.IgnoreNotFound(err) == nil && err != nil, "dry-run must not persist the pod")
		// The same pod for real does produce the Warning Event, so its absence above is meaningful.
		require.NoError(t, c.Create(ctx, gatewayPod("edge", "gw-real", bad)))
		require.Eventually(t, func() bool {
			return len(eventsWithReason(t, c, "edge", string(inject.ReasonInjectedWithDefault))) > 0
		}, 20*time.Second, 200*time.Millisecond)
		for _, e := range eventsWithReason(t, c, "edge", string(inject.ReasonInjectedWithDefault)) {
			assert.NotEqual(t, "gw-dry", e.Regarding.Name, "no Event for the dry-run pod")
			assert.NotContains(t, e.Note, "gw-dry")
		}
	})
	t.Run("pod that opts out: Event with the reason", func(t *testing.T) {
		pod := gatewayPod("edge", "gw-out", map[string]string{names.AnnotationInject: names.InjectDisabled})
		require.NoError(t, c.Create(ctx, pod))
		assert.Equal(t, 0, sidecars(pod))
		require.Eventually(t, func() bool {
			return len(eventsWithReason(t, c, "edge", string(inject.ReasonPodOptedOut))) == 1
		}, 20*time.Second, 200*time.Millisecond)
	})
	t.Run("reinvoked after another webhook: sidecar exactly once", func(t *testing.T) {
		startOtherWebhook(t, env)
		assertReinvoked(t, c)
	})
	t.Run("gateway pod created before opt-in is flagged", func(t *testing.T) {
		pod := gatewayPod("late", "gw-early", map[string]string{names.AnnotationGateway: "true"})
		require.NoError(t, c.Create(ctx, pod))
		assert.Equal(t, 0, sidecars(pod))
		ns := &corev1.Namespace{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "late"}, ns))
		ns.Annotations = map[string]string{names.AnnotationInject: names.InjectEnabled}
		require.NoError(t, c.Update(ctx, ns))
		require.Eventually(t, func() bool {
			ev := eventsWithReason(t, c, "late", nslabel.ReasonSidecarMissing)
			return len(ev) == 1 && ev[0].Regarding.Name == "gw-early"
		}, 20*time.Second, 200*time.Millisecond)
	})
	t.Run("the CA bundle follows opt-in, rotation, deletion and opt-out", func(t *testing.T) {
		published := func(ns string) (string, bool) {
			cm := &corev1.ConfigMap{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: names.OperatorCAConfigMap}, cm); err != nil {
				return "", false
			}
			return cm.Data[names.OperatorCAKey], true
		}
		waitBundle := func(ns, want string, msg string) {
			t.Helper()
			require.Eventually(t, func() bool { got, ok := published(ns); return ok && got == want }, 30*time.Second, 100*time.Millisecond, msg)
		}
		waitBundle("edge", string(wio.LocalServingCAData), "published where the namespace opted in")
		waitBundle("late", string(wio.LocalServingCAData), "published once the namespace opted in")
		_, ok := published("other")
		assert.False(t, ok, "never where the namespace did not opt in")
		assert.Empty(t, eventsWithReason(t, c, "edge", nslabel.ReasonCABundleNotPublished), "its own ConfigMap is never reported as someone else's")

		rotated, err := pki.NewCA(time.Now(), time.Hour)
		require.NoError(t, err)
		bundle := string(rotated.CertPEM) + string(wio.LocalServingCAData)
		require.NoError(t, os.WriteFile(caFile, []byte(bundle), 0o600))
		waitBundle("edge", bundle, "a rotated bundle file reaches every opted-in namespace (re-read every 10 s)")
		waitBundle("late", bundle, "a rotated bundle file reaches every opted-in namespace")

		require.NoError(t, c.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "edge", Name: names.OperatorCAConfigMap}}))
		waitBundle("edge", bundle, "a deleted ConfigMap is put back")

		ns := &corev1.Namespace{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "late"}, ns))
		delete(ns.Annotations, names.AnnotationInject)
		require.NoError(t, c.Update(ctx, ns))
		require.Eventually(t, func() bool { _, ok := published("late"); return !ok }, 20*time.Second, 100*time.Millisecond,
			"removed when the namespace opts out")
	})
	t.Run("a ConfigMap of that name made by someone else is left alone and reported", func(t *testing.T) {
		require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "theirs"}}))
		mine := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "theirs", Name: names.OperatorCAConfigMap},
			Data: map[string]string{"ca.crt": "their own"}}
		require.NoError(t, c.Create(ctx, mine))
		ns := &corev1.Namespace{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "theirs"}, ns))
		ns.Annotations = map[string]string{names.AnnotationInject: names.InjectEnabled}
		require.NoError(t, c.Update(ctx, ns))
		require.Eventually(t, func() bool { return len(eventsWithReason(t, c, "theirs", nslabel.ReasonCABundleNotPublished)) > 0 },
			20*time.Second, 200*time.Millisecond)
		got := &corev1.ConfigMap{}
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(mine), got))
		assert.Equal(t, map[string]string{"ca.crt": "their own"}, got.Data)
		assert.Empty(t, got.Labels)
	})
}

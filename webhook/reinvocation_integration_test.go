//go:build integration

package webhook

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/elasti-dev/elasti/internal/testenv"
)

// startOtherWebhook serves a second mutating webhook (another vendor's injector) that adds a
// container "other-agent" once, and registers it after Elasti's (configurations are called in
// name order), so the API server must reinvoke Elasti's webhook (reinvocationPolicy: IfNeeded).
func startOtherWebhook(t *testing.T, env *testenv.Env) {
	t.Helper()
	wio := env.WebhookInstallOptions
	cert, err := tls.LoadX509KeyPair(filepath.Join(wio.LocalServingCertDir, "tls.crt"), filepath.Join(wio.LocalServingCertDir, "tls.key"))
	require.NoError(t, err)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(otherWebhook)} //nolint:gosec // test server
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	url := fmt.Sprintf("https://%s/other", l.Addr().(*net.TCPAddr).String())
	none := admissionregistrationv1.SideEffectClassNone
	ignore := admissionregistrationv1.Ignore
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "zz-other-injector"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "other.example.com", AdmissionReviewVersions: []string{"v1"}, SideEffects: &none, FailurePolicy: &ignore,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: wio.LocalServingCAData},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			NamespaceSelector:  &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "edge"}},
			ReinvocationPolicy: ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
		}},
	}
	require.NoError(t, env.Client.Create(context.Background(), mwc))
	// The API server starts calling a new configuration a moment after it is created: wait until
	// a dry-run of an ordinary pod (not a gateway, so Elasti's counters do not move) shows it.
	require.Eventually(t, func() bool {
		probe := gatewayPod("edge", "other-webhook-probe", nil)
		probe.Labels = map[string]string{"app": "db"}
		if err := env.Client.Create(context.Background(), probe, client.DryRunAll); err != nil {
			return false
		}
		for _, c := range probe.Spec.Containers {
			if c.Name == "other-agent" {
				return true
			}
		}
		return false
	}, 20*time.Second, 100*time.Millisecond, "the other webhook is called by the API server")
}

func otherWebhook(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var review admissionv1.AdmissionReview
	if json.Unmarshal(body, &review) != nil || review.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	var pod corev1.Pod
	_ = json.Unmarshal(review.Request.Object.Raw, &pod)
	resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	has := false
	for _, c := range pod.Spec.Containers {
		has = has || c.Name == "other-agent"
	}
	if !has {
		pt := admissionv1.PatchTypeJSONPatch
		resp.PatchType = &pt
		resp.Patch = []byte(`[{"op":"add","path":"/spec/containers/-","value":{"name":"other-agent","image":"example.com/agent:v1"}}]`)
	}
	review.Response, review.Request = resp, nil
	_ = json.NewEncoder(w).Encode(&review)
}

// assertReinvoked creates a gateway pod with the other injector active: the pod ends with the
// other container and Elasti's sidecar exactly once.
func assertReinvoked(t *testing.T, c client.Client) {
	t.Helper()
	before := injectedCount(t)
	pod := gatewayPod("edge", "gw-reinvoked", nil)
	require.NoError(t, c.Create(context.Background(), pod))
	require.Equal(t, before+2, injectedCount(t), "Elasti's webhook was called twice: once, then reinvoked")
	require.Equal(t, 1, sidecars(pod), "sidecar exactly once after reinvocation")
	names := []string{}
	for _, ctr := range pod.Spec.Containers {
		names = append(names, ctr.Name)
	}
	require.Contains(t, names, "other-agent", "the other webhook ran")
}

// injectedCount reads elasti_webhook_admissions_total{result="injected"} from the process registry.
func injectedCount(t *testing.T) float64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "elasti_webhook_admissions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "injected" {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

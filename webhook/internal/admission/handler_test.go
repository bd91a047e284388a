package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/webhook/internal/inject"
)

type fakeNamespaces map[string]*corev1.Namespace

func (f fakeNamespaces) Get(_ context.Context, name string) (*corev1.Namespace, error) {
	if ns, ok := f[name]; ok {
		return ns, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("namespaces"), name)
}

type event struct {
	Regarding *corev1.ObjectReference
	Type      string
	Reason    string
	Note      string
}

type fakeRecorder struct {
	mu     sync.Mutex
	events []event
}

func (f *fakeRecorder) Eventf(regarding, _ runtime.Object, eventtype, reason, _, note string, args ...interface{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, event{regarding.(*corev1.ObjectReference), eventtype, reason, fmt.Sprintf(note, args...)})
}

func newHandler(t testing.TB) (*Handler, *fakeRecorder) {
	t.Helper()
	rec := &fakeRecorder{}
	cfg := inject.DefaultConfig()
	cfg.Image = "ghcr.io/elasti-dev/resolver:test"
	h := &Handler{
		Config: func() inject.Config { return cfg },
		Namespaces: fakeNamespaces{
			"edge":  {ObjectMeta: metav1.ObjectMeta{Name: "edge", Annotations: map[string]string{names.AnnotationInject: names.InjectEnabled, names.AnnotationGatewaySelector: "app=gateway"}}},
			"plain": {ObjectMeta: metav1.ObjectMeta{Name: "plain"}},
		},
		Events: rec,
		Log:    logr.Discard(),
	}
	return h, rec
}

func gatewayPod(annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "gw-", Labels: map[string]string{"app": "gateway"}, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "gw-1", UID: "u1", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "envoy", Image: "envoy", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}},
	}
}

func reviewBody(t testing.TB, ns string, obj any, dryRun bool) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	require.NoError(t, err)
	r := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID("req-1"), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Resource: podResource,
			Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}, DryRun: ptr.To(dryRun),
		},
	}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	return b
}

// post sends body to h's webhook, as the API server does.
func post(h *Handler, body []byte) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/mutate-pods", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	h.Webhook().ServeHTTP(w, r)
	return w
}

func decodeResponse(t *testing.T, w *httptest.ResponseRecorder) *admissionv1.AdmissionResponse {
	t.Helper()
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var out admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out))
	require.NotNil(t, out.Response)
	assert.Equal(t, types.UID("req-1"), out.Response.UID)
	assert.True(t, out.Response.Allowed, "the webhook never denies a pod")
	return out.Response
}

// admissionsTotal sums elasti_webhook_admissions_total over all label values.
func admissionsTotal(t *testing.T) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	admissions.Collect(ch)
	close(ch)
	total := 0.0
	for m := range ch {
		var pb dto.Metric
		require.NoError(t, m.Write(&pb))
		total += pb.GetCounter().GetValue()
	}
	return total
}

// TestHandlerBadReviews: bodies that are not an AdmissionReview with a request and a UID get an
// AdmissionReview whose response is an error with the status code (controller-runtime answers
// them at the HTTP level with 200), never a mutation, and the handler records no admission.
func TestHandlerBadReviews(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		code int32
		msg  string
	}{
		{"garbage", []byte("{not json"), http.StatusBadRequest, ""},
		{"empty", nil, http.StatusBadRequest, "no uid"},
		{"wrong kind", []byte(`{"apiVersion":"v1","kind":"Pod"}`), http.StatusBadRequest, ""},
		{"no request", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), http.StatusBadRequest, "no uid"},
		{"no uid", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}`), http.StatusBadRequest, "no uid"},
		{"too large", bytes.Repeat([]byte(" "), 7<<20+1), http.StatusRequestEntityTooLarge, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := newHandler(t)
			before := admissionsTotal(t)
			w := post(h, tt.body)
			require.Equal(t, http.StatusOK, w.Code)
			var out admissionv1.AdmissionReview
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out), w.Body.String())
			require.NotNil(t, out.Response)
			assert.False(t, out.Response.Allowed)
			assert.Nil(t, out.Response.Patch)
			require.NotNil(t, out.Response.Result)
			assert.Equal(t, tt.code, out.Response.Result.Code)
			assert.Contains(t, out.Response.Result.Message, tt.msg)
			assert.Equal(t, before, admissionsTotal(t), "no admission recorded")
			assert.Empty(t, rec.events)
		})
	}
}

// TestHandlerV1beta1: a v1beta1 review (never sent: the configuration names v1 only) is answered
// in v1beta1, like controller-runtime does for every handler.
func TestHandlerV1beta1(t *testing.T) {
	h, _ := newHandler(t)
	body := bytes.Replace(reviewBody(t, "edge", gatewayPod(nil), false), []byte("admission.k8s.io/v1"), []byte("admission.k8s.io/v1beta1"), 1)
	w := post(h, body)
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), `"apiVersion":"admission.k8s.io/v1beta1"`)
	var out admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out))
	require.NotNil(t, out.Response)
	assert.True(t, out.Response.Allowed)
	assert.NotNil(t, out.Response.Patch)
}

// TestHandlerPanicIsNotADenial: a panic while deciding (here in Config) is not turned into a
// response, which would deny the pod: the request fails (net/http drops the connection), and the
// API server admits the pod without the sidecar (failurePolicy: Ignore).
func TestHandlerPanicIsNotADenial(t *testing.T) {
	h, _ := newHandler(t)
	h.Config = func() inject.Config { panic("boom") }
	srv := httptest.NewServer(h.Webhook())
	defer srv.Close()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(reviewBody(t, "edge", gatewayPod(nil), false)))
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "a panic must fail the call, not answer it")
}

func TestHandlerReview(t *testing.T) {
	tests := []struct {
		name       string
		ns         string
		obj        any
		dryRun     bool
		patched    bool
		reason     inject.Reason
		eventKind  string // "" when no Event is expected
		warningHas string
	}{
		{"gateway pod injected", "edge", gatewayPod(nil), false, true, inject.ReasonInjected, "", ""},
		{"dry-run injected, no event", "edge", gatewayPod(map[string]string{names.AnnotationSidecarLogLevel: "loud"}), true, true, inject.ReasonInjectedWithDefault, "", "sidecar-log-level"},
		{"bad override reported on owner", "edge", gatewayPod(map[string]string{names.AnnotationSidecarLogLevel: "loud"}), false, true, inject.ReasonInjectedWithDefault, "ReplicaSet", "sidecar-log-level"},
		{"namespace without annotation", "plain", gatewayPod(nil), false, false, inject.ReasonNamespaceNotEnabled, "ReplicaSet", ""},
		{"unknown namespace", "gone", gatewayPod(nil), false, false, inject.ReasonNamespaceUnknown, "ReplicaSet", "not injected"},
		{"opt-out", "edge", gatewayPod(map[string]string{names.AnnotationInject: names.InjectDisabled}), false, false, inject.ReasonPodOptedOut, "ReplicaSet", ""},
		{"opt-out on dry-run", "edge", gatewayPod(map[string]string{names.AnnotationInject: names.InjectDisabled}), true, false, inject.ReasonPodOptedOut, "", ""},
		{"undecodable pod", "edge", map[string]any{"spec": map[string]any{"containers": "not a list"}}, false, false, inject.ReasonUndecodable, "Namespace", "could not be decoded"},
		{"not a gateway is quiet", "edge", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db"}}, false, false, inject.ReasonNotGateway, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := newHandler(t)
			result := resultOf(tt.reason, tt.patched)
			before := testutil.ToFloat64(admissions.WithLabelValues(result, string(tt.reason)))
			resp := decodeResponse(t, post(h, reviewBody(t, tt.ns, tt.obj, tt.dryRun)))
			assert.Equal(t, tt.patched, resp.Patch != nil)
			if tt.patched {
				assert.Equal(t, admissionv1.PatchTypeJSONPatch, *resp.PatchType)
				assert.Contains(t, string(resp.Patch), names.SidecarContainerName)
			}
			if tt.warningHas != "" {
				assert.Contains(t, strings.Join(resp.Warnings, "\n"), tt.warningHas)
			}
			assert.Equal(t, before+1, testutil.ToFloat64(admissions.WithLabelValues(result, string(tt.reason))))
			if tt.eventKind == "" {
				assert.Empty(t, rec.events)
				return
			}
			require.Len(t, rec.events, 1)
			assert.Equal(t, tt.eventKind, rec.events[0].Regarding.Kind)
			assert.Equal(t, string(tt.reason), rec.events[0].Reason)
			assert.Contains(t, rec.events[0].Note, "pod "+tt.ns+"/")
		})
	}
}

func TestHandlerIgnoresOtherOperations(t *testing.T) {
	h, rec := newHandler(t)
	body := reviewBody(t, "edge", gatewayPod(nil), false)
	var r admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(body, &r))
	r.Request.Operation = admissionv1.Update
	body, err := json.Marshal(r)
	require.NoError(t, err)
	resp := decodeResponse(t, post(h, body))
	assert.Nil(t, resp.Patch)
	assert.Empty(t, rec.events)
}

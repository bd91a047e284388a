package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/elasti-dev/elasti/webhook/internal/inject"
)

// NamespaceGetter returns a namespace, normally from the informer cache.
type NamespaceGetter interface {
	Get(ctx context.Context, name string) (*corev1.Namespace, error)
}

// Handler is the mutating webhook for pods, a controller-runtime admission.Handler: Webhook
// wraps it in controller-runtime's admission.Webhook, which reads (at most 7 MiB), decodes and
// answers the AdmissionReview.
type Handler struct {
	// Config returns the injection defaults for one request (it re-reads the CA bundle on rotation).
	Config func() inject.Config
	// Namespaces is where the handler re-checks the namespace's opt-in annotation.
	Namespaces NamespaceGetter
	// Events records skips and bad overrides; nil records nothing.
	Events Recorder
	Log    logr.Logger
}

var _ admission.Handler = (*Handler)(nil)

var podResource = metav1.GroupVersionResource{Version: "v1", Resource: "pods"}

// Webhook returns the http.Handler to register on the webhook server: controller-runtime's
// admission.Webhook around h, logging through h.Log. A panic is not recovered into a response:
// that response would deny the pod, while a dropped connection (net/http recovers the panic) is
// a failed call, which failurePolicy: Ignore admits.
func (h *Handler) Webhook() *admission.Webhook {
	return &admission.Webhook{
		Handler:      h,
		RecoverPanic: ptr.To(false),
		LogConstructor: func(_ logr.Logger, req *admission.Request) logr.Logger {
			return admission.DefaultLogConstructor(h.Log, req)
		},
	}
}

// Handle implements admission.Handler. A request without a UID is not one an API server sends:
// it is answered with an error (code 400), like a body that does not decode.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	defer func(start time.Time) { admissionDuration.Observe(time.Since(start).Seconds()) }(time.Now())
	if req.UID == "" {
		return admission.Errored(http.StatusBadRequest, errors.New("AdmissionReview request has no uid: expected an admission.k8s.io/v1 AdmissionReview from the API server"))
	}
	return admission.Response{AdmissionResponse: *h.Review(ctx, &req.AdmissionRequest)}
}

// Review answers one admission request. It always allows the pod.
func (h *Handler) Review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Resource != podResource || req.SubResource != "" || req.Operation != admissionv1.Create {
		observe(ResultSkipped, inject.ReasonNotPodCreate)
		return resp
	}
	dryRun := req.DryRun != nil && *req.DryRun
	pod := &corev1.Pod{}
	if err := json.Unmarshal(req.Object.Raw, pod); err != nil {
		h.finish(ctx, resp, nil, req.Namespace, dryRun, skip(inject.ReasonUndecodable, fmt.Sprintf("pod could not be decoded: %v", err)))
		return resp
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	ns, err := h.Namespaces.Get(ctx, req.Namespace)
	if err != nil {
		reason := inject.ReasonInternalError
		if apierrors.IsNotFound(err) {
			reason = inject.ReasonNamespaceUnknown
		}
		h.finish(ctx, resp, pod, req.Namespace, dryRun, skip(reason, fmt.Sprintf("reading namespace %q: %v", req.Namespace, err)))
		return resp
	}
	cfg := h.Config()
	res := inject.Mutate(pod, ns, &cfg)
	if res.Injected {
		patch, err := inject.Patch(req.Object.Raw, pod, res.Pod)
		if err != nil {
			res = skip(inject.ReasonInternalError, fmt.Sprintf("building patch: %v", err))
		} else if patch != nil {
			pt := admissionv1.PatchTypeJSONPatch
			resp.Patch, resp.PatchType = patch, &pt
		}
	}
	h.finish(ctx, resp, pod, req.Namespace, dryRun, res)
	return resp
}

func skip(reason inject.Reason, msg string) inject.Result {
	return inject.Result{Reason: reason, Message: msg}
}

// finish records the outcome: warnings in the response, the metric, a log line and an Event.
func (h *Handler) finish(ctx context.Context, resp *admissionv1.AdmissionResponse, pod *corev1.Pod, ns string, dryRun bool, res inject.Result) {
	result := resultOf(res.Reason, res.Injected)
	for _, w := range res.Warnings {
		resp.Warnings = append(resp.Warnings, "elasti: "+w)
	}
	if result == ResultError {
		resp.Warnings = append(resp.Warnings, "elasti: sidecar not injected: "+res.Message)
	}
	observe(result, res.Reason)
	log := logr.FromContextOrDiscard(ctx)
	if log.GetSink() == nil {
		log = h.Log
	}
	log.V(1).Info("admitted pod", "namespace", ns, "pod", podName(pod, ns), "result", result, "reason", res.Reason,
		"message", res.Message, "dryRun", dryRun)
	if !dryRun {
		h.record(pod, ns, res)
	}
}

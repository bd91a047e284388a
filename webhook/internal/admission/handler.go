package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/elasti-dev/elasti/webhook/internal/inject"
)

// DefaultMaxBodyBytes bounds a request body. The API server limits objects to about 3 MiB in
// etcd; an AdmissionReview can carry the object twice (object and oldObject), plus overhead.
const DefaultMaxBodyBytes = 7 << 20

// NamespaceGetter returns a namespace, normally from the informer cache.
type NamespaceGetter interface {
	Get(ctx context.Context, name string) (*corev1.Namespace, error)
}

// Handler serves the mutating webhook for pods.
type Handler struct {
	// Config returns the injection defaults for one request (it re-reads the CA bundle on rotation).
	Config func() inject.Config
	// Namespaces is where the handler re-checks the namespace's opt-in annotation.
	Namespaces NamespaceGetter
	// Events records skips and bad overrides; nil records nothing.
	Events Recorder
	// Metrics may be nil in tests.
	Metrics *Metrics
	// MaxBodyBytes defaults to DefaultMaxBodyBytes.
	MaxBodyBytes int64
	Log          logr.Logger
}

var podResource = metav1.GroupVersionResource{Version: "v1", Resource: "pods"}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if h.Metrics != nil {
		defer func() { h.Metrics.Duration.Observe(time.Since(start).Seconds()) }()
	}
	if r.Method != http.MethodPost {
		h.reject(w, http.StatusMethodNotAllowed, ReasonMethodNotAllowed, "only POST is supported")
		return
	}
	limit := h.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		h.reject(w, http.StatusBadRequest, ReasonBadRequest, fmt.Sprintf("reading body: %v", err))
		return
	}
	if int64(len(body)) > limit {
		h.reject(w, http.StatusRequestEntityTooLarge, ReasonBodyTooLarge, fmt.Sprintf("body larger than %d bytes", limit))
		return
	}
	review, err := DecodeReview(body)
	if err != nil {
		h.reject(w, http.StatusBadRequest, ReasonBadRequest, err.Error())
		return
	}
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: h.Review(r.Context(), review.Request)}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(&out); err != nil {
		h.Log.Error(err, "writing AdmissionReview response")
	}
}

func (h *Handler) reject(w http.ResponseWriter, code int, reason inject.Reason, msg string) {
	h.Metrics.observe(ResultRejected, reason)
	h.Log.V(1).Info("rejecting admission request", "status", code, "reason", msg)
	http.Error(w, "elasti webhook: "+msg, code)
}

// Review answers one admission request. It always allows the pod.
func (h *Handler) Review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Resource != podResource || req.SubResource != "" || req.Operation != admissionv1.Create {
		h.Metrics.observe(ResultSkipped, inject.ReasonNotPodCreate)
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
	h.Metrics.observe(result, res.Reason)
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

package admission

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/elasti-dev/elasti/webhook/internal/inject"
)

// Results of an admission (the "result" label).
const (
	ResultInjected = "injected"
	ResultSkipped  = "skipped"
	ResultError    = "error"
)

// The handler's metrics, served on the manager's metrics endpoint (controller-runtime's
// registry). Both labels are bounded: result is one of the Result constants and reason one of
// inject.AllReasons. Bodies that do not decode never reach the handler: controller-runtime's
// controller_runtime_webhook_requests_total counts them.
var (
	admissions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elasti_webhook_admissions_total",
		Help: "Pod admissions handled by the Elasti webhook, by result and reason.",
	}, []string{"result", "reason"})
	admissionDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "elasti_webhook_admission_duration_seconds",
		Help:    "Time to decide one decoded AdmissionReview (namespace lookup, mutation, patch).",
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1},
	})
)

func init() {
	metrics.Registry.MustRegister(admissions, admissionDuration)
}

func observe(result string, reason inject.Reason) {
	admissions.WithLabelValues(result, string(reason)).Inc()
}

// resultOf maps a reason to its result label.
func resultOf(reason inject.Reason, injected bool) string {
	switch {
	case injected:
		return ResultInjected
	case reason == inject.ReasonUndecodable || reason == inject.ReasonInternalError || reason == inject.ReasonNamespaceUnknown:
		return ResultError
	default:
		return ResultSkipped
	}
}

package admission

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/elasti-dev/elasti/webhook/internal/inject"
)

// Results of an admission (the "result" label).
const (
	ResultInjected = "injected"
	ResultSkipped  = "skipped"
	ResultError    = "error"
	// ResultRejected is an HTTP-level refusal (400, 405, 413): no AdmissionResponse was produced.
	ResultRejected = "rejected"
)

// HTTP-level reasons (with ResultRejected).
const (
	ReasonBadRequest       inject.Reason = "BadRequest"
	ReasonBodyTooLarge     inject.Reason = "BodyTooLarge"
	ReasonMethodNotAllowed inject.Reason = "MethodNotAllowed"
)

// Metrics are the handler's Prometheus metrics. Both labels are bounded: result is one of the
// Result constants and reason one of inject.AllReasons or the HTTP-level reasons above.
type Metrics struct {
	Admissions *prometheus.CounterVec
	Duration   prometheus.Histogram
}

// NewMetrics creates the metrics and registers them on reg (controller-runtime's
// metrics.Registry in the binary, a fresh registry in tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elasti_webhook_admissions_total",
			Help: "Pod admissions handled by the Elasti webhook, by result and reason.",
		}, []string{"result", "reason"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "elasti_webhook_admission_duration_seconds",
			Help:    "Time to handle one AdmissionReview, from body read to response written.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1},
		}),
	}
	reg.MustRegister(m.Admissions, m.Duration)
	return m
}

func (m *Metrics) observe(result string, reason inject.Reason) {
	if m == nil {
		return
	}
	m.Admissions.WithLabelValues(result, string(reason)).Inc()
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

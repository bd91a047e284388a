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
)

// Metrics are the handler's Prometheus metrics. Both labels are bounded: result is one of the
// Result constants and reason one of inject.AllReasons. Bodies that do not decode never reach the
// handler: controller-runtime's controller_runtime_webhook_requests_total counts them.
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
			Help:    "Time to decide one decoded AdmissionReview (namespace lookup, mutation, patch).",
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

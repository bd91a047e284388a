package controller

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

// Metric label values. Labels are bounded: namespace and name of ElastiServices that exist (their
// series are deleted with them), a direction, a result and a mode.
const (
	DirectionUp   = "up"
	DirectionDown = "down"

	ResultSuccess   = "success"
	ResultError     = "error"
	ResultCancelled = "cancelled"
)

var (
	scaleEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "elasti", Subsystem: "operator", Name: "scale_events_total",
		Help: "Scale operations started by the controller (scale-downs by the loop, scale-ups on deletion), by direction and result.",
	}, []string{"namespace", "name", "direction", "result"})

	modeGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "elasti", Subsystem: "operator", Name: "mode",
		Help: "1 for the mode (serve or proxy) each ElastiService's Service is in, 0 for the other.",
	}, []string{"namespace", "name", "mode"})

	triggerDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "elasti", Subsystem: "operator", Name: "trigger_evaluation_duration_seconds",
		Help:    "Time taken to evaluate all triggers of an ElastiService.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"namespace", "name"})

	triggerErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "elasti", Subsystem: "operator", Name: "trigger_errors_total",
		Help: "Trigger evaluations that failed (nothing is scaled down after one).",
	}, []string{"namespace", "name"})

	registerOnce sync.Once
)

// RegisterMetrics adds the controller's metrics to controller-runtime's registry (served on the
// manager's metrics endpoint). It is safe to call more than once.
func RegisterMetrics() {
	registerOnce.Do(func() {
		metrics.Registry.MustRegister(scaleEvents, modeGauge, triggerDuration, triggerErrors, sidecarPortsInUse, sidecarPortsTotal)
	})
}

func recordMode(key types.NamespacedName, mode v1alpha1.Mode) {
	for _, m := range []v1alpha1.Mode{v1alpha1.ModeServe, v1alpha1.ModeProxy} {
		v := 0.0
		if m == mode {
			v = 1
		}
		modeGauge.WithLabelValues(key.Namespace, key.Name, string(m)).Set(v)
	}
}

func recordScale(key types.NamespacedName, direction, result string) {
	scaleEvents.WithLabelValues(key.Namespace, key.Name, direction, result).Inc()
}

// forgetMetrics deletes every series of a deleted ElastiService.
func forgetMetrics(key types.NamespacedName) {
	l := prometheus.Labels{"namespace": key.Namespace, "name": key.Name}
	scaleEvents.DeletePartialMatch(l)
	modeGauge.DeletePartialMatch(l)
	triggerDuration.DeletePartialMatch(l)
	triggerErrors.DeletePartialMatch(l)
}

package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/elasti-dev/elasti/api/v1alpha1"
)

// Metric label values. Labels are bounded: namespace and elastiservice name of ElastiServices that
// exist (their series are deleted with them), a direction, a result and a mode.
const (
	DirectionUp   = "up"
	DirectionDown = "down"

	ResultSuccess   = "success"
	ResultError     = "error"
	ResultCancelled = "cancelled"
)

var (
	scaleEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elasti_operator_scale_events_total",
		Help: "Scale operations started by the controller (scale-downs by the loop, scale-ups on deletion), by direction and result.",
	}, []string{"namespace", "elastiservice", "direction", "result"})

	modeGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "elasti_operator_mode",
		Help: "1 for the mode (serve or proxy) each ElastiService's Service is in, 0 for the other.",
	}, []string{"namespace", "elastiservice", "mode"})

	triggerDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "elasti_operator_trigger_evaluation_duration_seconds",
		Help:    "Time taken to evaluate all triggers of an ElastiService.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"namespace", "elastiservice"})

	triggerErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elasti_operator_trigger_errors_total",
		Help: "Trigger evaluations that failed (nothing is scaled down after one).",
	}, []string{"namespace", "elastiservice"})

	trafficObservations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elasti_operator_traffic_observations_total",
		Help: "Observations of the traffic trigger (the Service in proxy mode, its pods serving, while the sidecars count its requests), by how they ended: active (back to serve), idle (scaled to zero), cancelled (a scale-down that did not happen), stopped (target or sidecars gone, or outside enabledPeriod).",
	}, []string{"namespace", "elastiservice", "result"})

	trafficObservationSeconds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elasti_operator_traffic_observation_seconds_total",
		Help: "Time spent in observations of the traffic trigger (proxy mode with the pods serving), counted when each ends.",
	}, []string{"namespace", "elastiservice"})

	trafficRate = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "elasti_operator_traffic_observed_rate",
		Help: "The request rate (requests per second) the traffic trigger measured at its last look during an observation.",
	}, []string{"namespace", "elastiservice"})

	pollDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "elasti_operator_scaledown_poll_duration_seconds",
		Help:    "Time taken by one poll of the scale-down loop over every ElastiService (its triggers evaluated one service after the other); a poll longer than --poll-interval delays the next.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	})

	sidecarPortsInUse = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "elasti_operator_sidecar_ports_in_use",
		Help: "Sidecar ports allocated to Service ports (the range's size is elasti_operator_sidecar_ports_total).",
	})

	sidecarPortsTotal = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "elasti_operator_sidecar_ports_total",
		Help: "Ports in the sidecar port range (--sidecar-port-range).",
	})
)

// The metrics are served on the manager's metrics endpoint (controller-runtime's registry).
func init() {
	metrics.Registry.MustRegister(scaleEvents, modeGauge, triggerDuration, triggerErrors, sidecarPortsInUse, sidecarPortsTotal,
		trafficObservations, trafficObservationSeconds, trafficRate, pollDuration)
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
	l := prometheus.Labels{"namespace": key.Namespace, "elastiservice": key.Name}
	scaleEvents.DeletePartialMatch(l)
	modeGauge.DeletePartialMatch(l)
	triggerDuration.DeletePartialMatch(l)
	triggerErrors.DeletePartialMatch(l)
	trafficObservations.DeletePartialMatch(l)
	trafficObservationSeconds.DeletePartialMatch(l)
	trafficRate.DeletePartialMatch(l)
}

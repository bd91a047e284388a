package elastiserver

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics have bounded labels only: HTTP status codes (a fixed set the handlers can answer),
// message types and results. No label carries a caller, a pod or a service name.
var (
	requestCounts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elasti_elastiserver_request_counts_total",
		Help: "RequestCounts received from resolver sidecars, by answer code.",
	}, []string{"code"})
	// 5 ms to ~10 s: a wake-up's scale write under load lands in the hundreds of milliseconds.
	requestCountDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "elasti_elastiserver_request_count_duration_seconds",
		Help:    "Time to answer a RequestCount (authentication, lookup, activity mark, scale-up), by answer code.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	}, []string{"code"})
	// 0.5 ms to 1 s: the target is 10 ms at the 99th percentile with 1,000 services.
	wakeDecision = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "elasti_elastiserver_wake_decision_seconds",
		Help:    "For RequestCounts that scaled a target, the time from receiving the RequestCount to sending the /scale write (authentication, lookup, the read of /scale).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	streamsConnected = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "elasti_elastiserver_streams_connected",
		Help: "Sidecar streams currently connected to this operator replica.",
	})
	streamMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elasti_elastiserver_stream_messages_total",
		Help: "Messages written to sidecar streams, by type.",
	}, []string{"type"})
	acks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elasti_elastiserver_acks_total",
		Help: "Acks received from sidecars, by answer code.",
	}, []string{"code"})
	ackPatches = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "elasti_elastiserver_ack_patches_total",
		Help: "Acknowledgement Lease writes caused by acks that changed what the sidecar knows.",
	})
	burstRaises = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "elasti_elastiserver_burst_raises_total",
		Help: "Targets raised above their wake-up size by requests still held while they started (spec.wakeBurst).",
	})
	services = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "elasti_elastiserver_services",
		Help: "ElastiServices known to the stream of this operator replica.",
	})
)

func init() {
	metrics.Registry.MustRegister(requestCounts, requestCountDuration, wakeDecision, streamsConnected, streamMessages, acks, ackPatches, burstRaises, services)
}

func codeLabel(code int) string { return strconv.Itoa(code) }

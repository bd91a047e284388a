package metrics

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// The reasons of Rejected (label reason of elasti_sidecar_requests_rejected_total).
const (
	// ReasonUnknownHost: a request on the direct listener named no known service.
	ReasonUnknownHost = "unknown_host"
	// ReasonQueueFull: the service's hold queue was full.
	ReasonQueueFull = "queue_full"
	// ReasonHoldTimeout: no pod could serve within the hold timeout.
	ReasonHoldTimeout = "hold_timeout"
	// ReasonServiceGone: the service left the stream (no ElastiService any more) while the request
	// was held or its connection was open.
	ReasonServiceGone = "service_gone"
	// ReasonClientGone: the client went away while its request was held (499 in requests_total).
	ReasonClientGone = "client_gone"
	// ReasonShutdown: the sidecar was shutting down.
	ReasonShutdown = "shutdown"
	// ReasonUpstreamError: the pod could not be reached or answered with a broken response.
	ReasonUpstreamError = "upstream_error"
	// ReasonBadRequest: the request body could not be read while holding it.
	ReasonBadRequest = "bad_request"
)

// Metrics are the sidecar's collectors. Methods take a "namespace/name" key.
type Metrics struct {
	Registry *prometheus.Registry

	held            *prometheus.GaugeVec
	holdDuration    *prometheus.HistogramVec
	results         *prometheus.CounterVec
	rejected        *prometheus.CounterVec
	reports         *prometheus.CounterVec
	streamConnected prometheus.Gauge
	streamReconnect prometheus.Counter
	streamVersion   prometheus.Gauge
	streamServices  prometheus.Gauge
	probes          *prometheus.CounterVec
	sidecarPorts    prometheus.Gauge
	listenErrors    prometheus.Counter

	// resolved caches the series of results that requests have used, so that a forwarded
	// request costs one map read instead of hashing four label values (WithLabelValues).
	resolvedMu sync.RWMutex
	resolved   map[resultKey]prometheus.Counter
}

// resultKey names one series of elasti_sidecar_requests_total.
type resultKey struct {
	key  string
	code int // the status divided by 100
	held bool
}

// New creates the collectors on a registry of their own (with Go and process collectors). The
// operator and the webhook register on controller-runtime's registry in init; the sidecar has no
// controller-runtime manager, and tests run several sidecars in one process, so its collectors
// belong to the Metrics value.
func New() *Metrics {
	svc := []string{"namespace", "service"}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		resolved: map[resultKey]prometheus.Counter{},
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "elasti_sidecar_held_requests",
			Help: "Requests held now, waiting for the service to be able to serve."}, svc),
		holdDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "elasti_sidecar_hold_duration_seconds",
			Help:    "How long requests were held before being forwarded or answered.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300}}, svc),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "elasti_sidecar_requests_total",
			Help: "Requests handled, by response code class (2xx..5xx) and whether they were held."}, append(svc, "code_class", "held")),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "elasti_sidecar_requests_rejected_total",
			Help: "Requests answered by the sidecar itself, by reason (unknown_host, queue_full, hold_timeout, service_gone, client_gone, shutdown, upstream_error, bad_request)."}, append(svc, "reason")),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "elasti_sidecar_request_count_reports_total",
			Help: "RequestCount messages sent to the operator, by result (ok, error)."}, append(svc, "result")),
		streamConnected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "elasti_sidecar_stream_connected",
			Help: "1 while the operator stream is connected."}),
		streamReconnect: prometheus.NewCounter(prometheus.CounterOpts{Name: "elasti_sidecar_stream_reconnects_total",
			Help: "Times the operator stream was (re)connected after a failure."}),
		streamVersion: prometheus.NewGauge(prometheus.GaugeOpts{Name: "elasti_sidecar_stream_version",
			Help: "Version of the last message applied from the operator stream."}),
		streamServices: prometheus.NewGauge(prometheus.GaugeOpts{Name: "elasti_sidecar_stream_services",
			Help: "ElastiServices the sidecar currently knows."}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "elasti_sidecar_probes_total",
			Help: "Readiness probes the sidecar ran against not-ready endpoints, by result (success, failure)."}, append(svc, "result")),
		sidecarPorts: prometheus.NewGauge(prometheus.GaugeOpts{Name: "elasti_sidecar_sidecar_ports",
			Help: "Sidecar ports listened on (one per Service port the stream lists)."}),
		listenErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "elasti_sidecar_sidecar_port_errors_total",
			Help: "Sidecar ports that could not be listened on (each distinct failure once); their services are not acknowledged."}),
	}
	m.Registry.MustRegister(m.held, m.holdDuration, m.results, m.rejected, m.reports, m.streamConnected,
		m.streamReconnect, m.streamVersion, m.streamServices, m.probes, m.sidecarPorts, m.listenErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func split(key string) (string, string) {
	ns, name, _ := strings.Cut(key, "/")
	return ns, name
}

// SidecarPorts records how many sidecar ports are open.
func (m *Metrics) SidecarPorts(n int) { m.sidecarPorts.Set(float64(n)) }

// ListenError counts a sidecar port that could not be opened.
func (m *Metrics) ListenError() { m.listenErrors.Inc() }

// SetHeld sets the held gauge of a service to n (the caller reads n from the hold queue, so a
// series dropped by Forget is never driven negative).
func (m *Metrics) SetHeld(key string, n int) {
	ns, name := split(key)
	m.held.WithLabelValues(ns, name).Set(float64(n))
}

// Observe records one finished request.
func (m *Metrics) Observe(key string, code int, held bool, holdFor time.Duration) {
	m.result(resultKey{key: key, code: code / 100, held: held}).Inc()
	if held {
		ns, name := split(key)
		m.holdDuration.WithLabelValues(ns, name).Observe(holdFor.Seconds())
	}
}

// result returns the series of k, resolving it on first use.
func (m *Metrics) result(k resultKey) prometheus.Counter {
	m.resolvedMu.RLock()
	c, ok := m.resolved[k]
	m.resolvedMu.RUnlock()
	if ok {
		return c
	}
	ns, name := split(k.key)
	c = m.results.WithLabelValues(ns, name, strconv.Itoa(k.code)+"xx", strconv.FormatBool(k.held))
	m.resolvedMu.Lock()
	m.resolved[k] = c
	m.resolvedMu.Unlock()
	return c
}

// Rejected counts a request the sidecar answered itself.
func (m *Metrics) Rejected(key, reason string) {
	ns, name := split(key)
	m.rejected.WithLabelValues(ns, name, reason).Inc()
}

// Report counts a RequestCount result.
func (m *Metrics) Report(key string, err error) {
	ns, name := split(key)
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.reports.WithLabelValues(ns, name, result).Inc()
}

// Probe counts a probe result.
func (m *Metrics) Probe(key string, ok bool) {
	ns, name := split(key)
	result := "failure"
	if ok {
		result = "success"
	}
	m.probes.WithLabelValues(ns, name, result).Inc()
}

// StreamConnected sets the stream state; reconnect counts a new connection after a failure.
func (m *Metrics) StreamConnected(up, reconnect bool) {
	if up {
		m.streamConnected.Set(1)
	} else {
		m.streamConnected.Set(0)
	}
	if reconnect {
		m.streamReconnect.Inc()
	}
}

// StreamApplied records the version and service count after an applied message.
func (m *Metrics) StreamApplied(version uint64, services int) {
	m.streamVersion.Set(float64(version))
	m.streamServices.Set(float64(services))
}

// Forget drops every series of a service that left the stream.
func (m *Metrics) Forget(key string) {
	m.resolvedMu.Lock()
	for k := range m.resolved {
		if k.key == key {
			delete(m.resolved, k)
		}
	}
	m.resolvedMu.Unlock()
	ns, name := split(key)
	l := prometheus.Labels{"namespace": ns, "service": name}
	m.held.DeletePartialMatch(l)
	m.holdDuration.DeletePartialMatch(l)
	m.results.DeletePartialMatch(l)
	m.rejected.DeletePartialMatch(l)
	m.reports.DeletePartialMatch(l)
	m.probes.DeletePartialMatch(l)
}

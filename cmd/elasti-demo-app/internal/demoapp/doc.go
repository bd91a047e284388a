// Package demoapp is the demo HTTP application: after a configurable start-up delay it serves
//
//	/         a greeting (and the pod's name, from $HOSTNAME)
//	/healthz  200 once listening (use it as the readiness probe)
//	/echo     the request body, streamed back
//	/stream   ?n=N lines, one every ?interval=D, each flushed as it is written
//	/ws       a WebSocket that echoes every message
//	/metrics  Prometheus metrics, among them demo_requests_total{path}
//
// It logs "first answer" when it answers its first request, so the time from process start to the
// first served request of a cold start can be read from the pod's log.
package demoapp

package elastiserver

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/pkg/scaling"
	"github.com/elasti-dev/elasti/pkg/stream"
)

func TestMetricsCountAnswersByCode(t *testing.T) {
	f := newFixture(t, elastiService("shop", "orders", "orders"), gatewayPod("gw-1"))
	before := map[string]float64{}
	for _, c := range []string{"202", "401", "404"} {
		before[c] = testutil.ToFloat64(requestCounts.WithLabelValues(c))
	}
	ackBefore := testutil.ToFloat64(acks.WithLabelValues("204"))
	timedBefore := observations(t, "202")
	send := func(token, svc string) {
		call(f.srv.Handler(), http.MethodPost, stream.IncomingRequestPath, token, strings.NewReader(`{"count":1,"svc":"`+svc+`","namespace":"shop"}`))
	}
	send("gw-1", "orders")
	send("gw-1", "orders")
	send("", "orders")
	send("gw-1", "cart")
	call(f.srv.Handler(), http.MethodPost, stream.AckPath, "gw-1", strings.NewReader(`{"version":1,"services":["shop/orders"]}`))

	assert.Equal(t, 2.0, testutil.ToFloat64(requestCounts.WithLabelValues("202"))-before["202"])
	assert.Equal(t, 1.0, testutil.ToFloat64(requestCounts.WithLabelValues("401"))-before["401"])
	assert.Equal(t, 1.0, testutil.ToFloat64(requestCounts.WithLabelValues("404"))-before["404"])
	assert.Equal(t, 1.0, testutil.ToFloat64(acks.WithLabelValues("204"))-ackBefore)
	assert.Equal(t, uint64(2), observations(t, "202")-timedBefore, "each answered RequestCount is timed")
}

// observations is how many RequestCounts answered with code were timed.
func observations(t *testing.T, code string) uint64 {
	t.Helper()
	m := &dto.Metric{}
	require.NoError(t, requestCountDuration.WithLabelValues(code).(prometheus.Histogram).Write(m))
	return m.GetHistogram().GetSampleCount()
}

// TestWakeDecisionIsTimed: a RequestCount that scales its target records the time until the
// /scale write was sent; one that finds the target up does not.
func TestWakeDecisionIsTimed(t *testing.T) {
	f := newFixture(t, elastiService("shop", "orders", "orders"), gatewayPod("gw-1"))
	count := func() uint64 {
		m := &dto.Metric{}
		require.NoError(t, wakeDecision.Write(m))
		return m.GetHistogram().GetSampleCount()
	}
	send := func() {
		call(f.srv.Handler(), http.MethodPost, stream.IncomingRequestPath, "gw-1", strings.NewReader(`{"count":1,"svc":"orders","namespace":"shop"}`))
	}
	before := count()
	f.scaler.result = scaling.ScaleResult{Replicas: 1, ScaledFromZero: true}
	send()
	assert.Equal(t, before+1, count(), "a wake-up from zero is timed")
	f.scaler.result = scaling.ScaleResult{Replicas: 1}
	f.clock.Add(time.Minute) // past the rate limit
	send()
	assert.Equal(t, before+1, count(), "a target already up: nothing written, nothing timed")
}

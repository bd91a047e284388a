package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestForgetDropsServiceSeries(t *testing.T) {
	m := New()
	m.SetHeld("shop/orders", 2)
	m.Observe("shop/orders", 200, true, time.Second)
	m.Report("shop/orders", errors.New("x"))
	m.Rejected("shop/orders", "queue_full")
	m.Probe("shop/orders", true)
	m.Observe("shop/cart", 503, false, 0)

	want := `
# HELP elasti_sidecar_requests_total Requests handled, by response code class (2xx..5xx) and whether they were held.
# TYPE elasti_sidecar_requests_total counter
elasti_sidecar_requests_total{code_class="2xx",held="true",namespace="shop",service="orders"} 1
elasti_sidecar_requests_total{code_class="5xx",held="false",namespace="shop",service="cart"} 1
`
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "elasti_sidecar_requests_total"))

	m.Forget("shop/orders")
	for _, name := range []string{"elasti_sidecar_held_requests", "elasti_sidecar_hold_duration_seconds",
		"elasti_sidecar_request_count_reports_total", "elasti_sidecar_requests_rejected_total", "elasti_sidecar_probes_total"} {
		n, err := testutil.GatherAndCount(m.Registry, name)
		require.NoError(t, err)
		assert.Zero(t, n, name)
	}
	n, err := testutil.GatherAndCount(m.Registry, "elasti_sidecar_requests_total")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// TestObserveAfterForgetCountsAgain: the resolved series are dropped with the service, so a
// service that comes back is counted in a live series, not in one the registry forgot.
func TestObserveAfterForgetCountsAgain(t *testing.T) {
	m := New()
	for range 3 {
		m.Observe("shop/orders", 200, false, 0)
	}
	m.Observe("shop/orders", 404, false, 0)
	m.Forget("shop/orders")
	m.Observe("shop/orders", 204, false, 0)
	want := `
# HELP elasti_sidecar_requests_total Requests handled, by response code class (2xx..5xx) and whether they were held.
# TYPE elasti_sidecar_requests_total counter
elasti_sidecar_requests_total{code_class="2xx",held="false",namespace="shop",service="orders"} 1
`
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "elasti_sidecar_requests_total"))
}

package framework

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/elasti-dev/elasti/test/e2e/testdata"
)

func TestHeldFor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"elasti hold", []string{"elasti-hold;dur=1234.5"}, 1234500 * time.Microsecond},
		{"second metric", []string{`db;desc="x", elasti-hold;dur=12`}, 12 * time.Millisecond},
		{"no dur", []string{"elasti-hold"}, 0},
		{"garbage dur", []string{"elasti-hold;dur=abc"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.values {
				h.Add("Server-Timing", v)
			}
			assert.Equal(t, tc.want, HeldFor(h))
		})
	}
}

func TestDecodePrometheusManifest(t *testing.T) {
	objs, err := Decode(testdata.Prometheus, map[string]string{"__NAMESPACE__": "ns1", "__IMAGE__": "img:v1"})
	require.NoError(t, err)
	kinds := map[string]string{}
	for _, o := range objs {
		kinds[o.GetKind()] = o.GetName()
		if o.GetKind() != "Namespace" && o.GetKind() != "ClusterRole" && o.GetKind() != "ClusterRoleBinding" {
			assert.Equal(t, "ns1", o.GetNamespace(), o.GetKind())
		}
	}
	assert.Equal(t, map[string]string{
		"Namespace": "ns1", "ServiceAccount": "prometheus", "ClusterRole": "ns1-prometheus",
		"ClusterRoleBinding": "ns1-prometheus", "ConfigMap": "prometheus", "Deployment": "prometheus", "Service": "prometheus",
	}, kinds)
}

func TestServiceURL(t *testing.T) {
	assert.Equal(t, "http://app.ns/x", ServiceURL("ns", "app", 0, "/x"))
	assert.Equal(t, "http://app.ns/x", ServiceURL("ns", "app", 80, "/x"))
	assert.Equal(t, "http://app.ns:8081/", ServiceURL("ns", "app", 8081, "/"))
}

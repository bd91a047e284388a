package framework

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

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

func TestDecodeTraefikManifest(t *testing.T) {
	objs, err := Decode(testdata.Traefik, map[string]string{"__NAMESPACE__": "edge", "__IMAGE__": "img:v1", "__INGRESS_CLASS__": "traefik"})
	require.NoError(t, err)
	kinds := map[string]string{}
	for _, o := range objs {
		kinds[o.GetKind()] = o.GetName()
		switch o.GetKind() {
		case "Namespace", "ClusterRole", "ClusterRoleBinding", "IngressClass":
			assert.Empty(t, o.GetNamespace(), o.GetKind())
		default:
			assert.Equal(t, "edge", o.GetNamespace(), o.GetKind())
		}
	}
	assert.Equal(t, map[string]string{
		"Namespace": "edge", "ServiceAccount": "traefik", "ClusterRole": "edge-traefik", "ClusterRoleBinding": "edge-traefik",
		"IngressClass": "traefik", "Deployment": "traefik", "Service": "traefik",
	}, kinds)
	assert.Equal(t, "Namespace", objs[0].GetKind(), "the namespace must be created first")
	assert.Equal(t, map[string]string{"elasti.dev/inject": "enabled", "elasti.dev/gateway-selector": TraefikGatewaySelector}, objs[0].GetAnnotations())

	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d))
		sel, err := labels.Parse(TraefikGatewaySelector)
		require.NoError(t, err)
		assert.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "the gateway selector matches Traefik's pods")
		c := d.Spec.Template.Spec.Containers[0]
		assert.Contains(t, c.Args, "--providers.kubernetesingress.ingressclass=traefik")
		assert.Contains(t, c.Args, "--global.checkNewVersion=false")
		assert.Contains(t, c.Args, "--global.sendAnonymousUsage=false")
		for _, p := range c.Ports {
			// Elasti reserves 20000-29999 on gateway pods for its sidecar.
			assert.Less(t, p.ContainerPort, int32(20000), p.Name)
		}
		assert.Equal(t, corev1.PullIfNotPresent, c.ImagePullPolicy)
	}
}

func TestTraefikNames(t *testing.T) {
	assert.Equal(t, "e2e-traefik-42-warm-warm-example-test@kubernetes", TraefikRouterName("e2e-traefik-42", "warm", "warm.example.test", "/"))
	assert.Equal(t, "shop-web-shop-example-test-api@kubernetes", TraefikRouterName("shop", "web", "shop.example.test", "/api"))
	assert.Equal(t, "shop-web-api@kubernetes", TraefikRouterName("shop", "web", "", "/api"))
	assert.Equal(t, "shop-orders-80@kubernetes", TraefikServiceName("shop", "orders", "80"))
	assert.Equal(t, "shop-orders-http@kubernetes", TraefikServiceName("shop", "orders", "http"))
}

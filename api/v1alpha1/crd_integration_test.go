//go:build integration

package v1alpha1_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/testenv"
)

const validSpec = `
service: orders
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: orders}
triggers:
- type: prometheus
  metadata:
    query: sum(rate(http_requests_total{service="orders"}[1m]))
    serverAddress: http://prometheus.monitoring.svc:9090
    threshold: "0.5"
    uptimeFilter: container="prometheus"
    headers: {X-Scope-OrgID: team-a, thanos-tenant: team-a}
    authSecretRef: {name: prometheus-credentials}
autoscaler: {type: keda, name: orders}
enabledPeriod: {schedule: "0 9 * * 1-5", duration: 8h, timeZone: Europe/Berlin}
`

// object builds an unstructured ElastiService from a YAML spec, so that invalid values (which
// the typed API could not even represent) reach the API server as a user would send them.
func object(t *testing.T, name, spec string) *unstructured.Unstructured {
	t.Helper()
	var s map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(spec), &s))
	u := &unstructured.Unstructured{Object: map[string]any{"spec": s}}
	u.SetAPIVersion(v1alpha1.GroupVersion.String())
	u.SetKind("ElastiService")
	u.SetNamespace("default")
	u.SetName(name)
	return u
}

// withSpec replaces one top-level spec field of the valid spec.
func withSpec(t *testing.T, field, value string) string {
	t.Helper()
	var s map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(validSpec), &s))
	if value == "" {
		delete(s, field)
	} else {
		var v any
		require.NoError(t, yaml.Unmarshal([]byte(value), &v))
		s[field] = v
	}
	out, err := yaml.Marshal(s)
	require.NoError(t, err)
	return string(out)
}

func TestIntegrationCRD(t *testing.T) {
	env := testenv.Start(t, nil)
	ctx := context.Background()
	c := env.Client

	t.Run("installed with printer columns, short names and category", func(t *testing.T) {
		var crd apiextensionsv1.CustomResourceDefinition
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "elastiservices.elasti.dev"}, &crd))
		assert.Contains(t, crd.Spec.Names.ShortNames, "esvc")
		assert.Contains(t, crd.Spec.Names.Categories, "elasti")
		var cols []string
		for _, col := range crd.Spec.Versions[0].AdditionalPrinterColumns {
			cols = append(cols, col.Name)
		}
		assert.Equal(t, []string{"Service", "Target", "Kind", "Mode", "Ready", "Why", "Rate", "Age"}, cols)
		assert.NotNil(t, crd.Spec.Versions[0].Subresources.Status)
	})

	t.Run("valid object accepted with defaults", func(t *testing.T) {
		minimal := "service: orders\nscaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: orders}\n"
		require.NoError(t, c.Create(ctx, object(t, "minimal", minimal)))
		var es v1alpha1.ElastiService
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "minimal"}, &es))
		assert.Equal(t, int32(1), es.Spec.MinTargetReplicas)
		require.NotNil(t, es.Spec.CooldownPeriod)
		assert.Equal(t, int32(900), *es.Spec.CooldownPeriod)

		require.NoError(t, c.Create(ctx, object(t, "full", validSpec)))
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "full"}, &es))
		th, err := es.Spec.Triggers[0].Metadata.ThresholdValue()
		require.NoError(t, err)
		assert.Equal(t, 0.5, th)

		zero := minimal + "cooldownPeriod: 0\nminTargetReplicas: 3\n"
		require.NoError(t, c.Create(ctx, object(t, "zero-cooldown", zero)))
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "zero-cooldown"}, &es))
		assert.Equal(t, int32(0), *es.Spec.CooldownPeriod, "an explicit 0 is kept, not defaulted")
		assert.Equal(t, int32(3), es.Spec.MinTargetReplicas)
	})

	t.Run("numeric threshold and descriptor schedule accepted", func(t *testing.T) {
		spec := strings.Replace(validSpec, `threshold: "0.5"`, `threshold: 2.5`, 1)
		spec = strings.Replace(spec, `"0 9 * * 1-5"`, `"@daily"`, 1)
		require.NoError(t, c.Create(ctx, object(t, "numeric", spec)))
		spec = strings.Replace(validSpec, `"0 9 * * 1-5"`, `"*/15 0-6,22,23 1,15 JAN-mar sun"`, 1)
		require.NoError(t, c.Create(ctx, object(t, "complex-cron", spec)))
	})

	t.Run("traffic triggers accepted", func(t *testing.T) {
		for name, triggers := range map[string]string{
			"traffic-default":   "[{type: traffic, metadata: {}}]",
			"traffic-threshold": "[{type: traffic, metadata: {threshold: 0.5, window: 5m}}]",
			"traffic-and-prom":  "[{type: traffic, metadata: {threshold: '2'}}, {type: prometheus, metadata: {query: x, threshold: 1}}]",
		} {
			require.NoError(t, c.Create(ctx, object(t, name, withSpec(t, "triggers", triggers))), name)
		}
		var es v1alpha1.ElastiService
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "traffic-threshold"}, &es))
		tt := es.Spec.TrafficTrigger()
		require.NotNil(t, tt)
		th, err := tt.Metadata.TrafficThreshold()
		require.NoError(t, err)
		assert.Equal(t, 0.5, th)
		w, err := tt.Metadata.TrafficWindow()
		require.NoError(t, err)
		assert.Equal(t, 5*time.Minute, w)
	})

	t.Run("wakeBurst accepted", func(t *testing.T) {
		require.NoError(t, c.Create(ctx, object(t, "burst", withSpec(t, "wakeBurst", "{requestsPerReplica: 20, maxReplicas: 10}"))))
		require.NoError(t, c.Create(ctx, object(t, "burst-at-min", withSpec(t, "wakeBurst", "{requestsPerReplica: 1, maxReplicas: 3}")+"minTargetReplicas: 3\n")))
		var es v1alpha1.ElastiService
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "burst"}, &es))
		require.NotNil(t, es.Spec.WakeBurst)
		assert.Equal(t, v1alpha1.WakeBurst{RequestsPerReplica: 20, MaxReplicas: 10}, *es.Spec.WakeBurst)
		assert.Equal(t, int32(3), es.Spec.WakeReplicas(41))
	})

	invalid := []struct {
		name string
		spec string
		want string
	}{
		{"missing service", withSpec(t, "service", ""), `spec.service: Required value`},
		{"bad service name", withSpec(t, "service", "Orders_1"), "service must be a Service name"},
		{"missing scaleTargetRef", withSpec(t, "scaleTargetRef", ""), "spec.scaleTargetRef: Required value"},
		{"bad target kind", withSpec(t, "scaleTargetRef", "{apiVersion: apps/v1, kind: deployment, name: x}"), "kind must be a Kind such as Deployment"},
		{"bad target apiVersion", withSpec(t, "scaleTargetRef", "{apiVersion: 'apps v1', kind: Deployment, name: x}"), "apiVersion must look like 'apps/v1'"},
		{"minTargetReplicas 0", withSpec(t, "minTargetReplicas", "0"), "spec.minTargetReplicas: Invalid value: 0: spec.minTargetReplicas in body should be greater than or equal to 1"},
		{"cooldown negative", withSpec(t, "cooldownPeriod", "-1"), "spec.cooldownPeriod in body should be greater than or equal to 0"},
		{"cooldown over a week", withSpec(t, "cooldownPeriod", "604801"), "spec.cooldownPeriod in body should be less than or equal to 604800"},
		{"unknown trigger type", withSpec(t, "triggers", "[{type: cpu, metadata: {query: x, threshold: 1}}]"), `spec.triggers[0].type: Unsupported value: "cpu": supported values: "prometheus", "traffic"`},
		{"traffic with a query", withSpec(t, "triggers", "[{type: traffic, metadata: {query: x}}]"), "a traffic trigger takes only metadata.threshold and metadata.window"},
		{"traffic with a server address", withSpec(t, "triggers", "[{type: traffic, metadata: {serverAddress: 'http://p:9090'}}]"), "a traffic trigger takes only"},
		{"two traffic triggers", withSpec(t, "triggers", "[{type: traffic, metadata: {}}, {type: traffic, metadata: {threshold: 1}}]"), "at most one traffic trigger"},
		{"traffic window not a duration", withSpec(t, "triggers", "[{type: traffic, metadata: {window: 'a minute'}}]"), "window must be a Go duration between 1s and 1h"},
		{"traffic window too long", withSpec(t, "triggers", "[{type: traffic, metadata: {window: 2h}}]"), "window must be a Go duration between 1s and 1h"},
		{"traffic window too short", withSpec(t, "triggers", "[{type: traffic, metadata: {window: 500ms}}]"), "window must be a Go duration between 1s and 1h"},
		{"window on a prometheus trigger", withSpec(t, "triggers", "[{type: prometheus, metadata: {query: x, threshold: 1, window: 1m}}]"), "metadata.window is for traffic triggers only"},
		{"prometheus without query", withSpec(t, "triggers", "[{type: prometheus, metadata: {threshold: 1}}]"), "a prometheus trigger needs metadata.query"},
		{"bad server address", withSpec(t, "triggers", "[{type: prometheus, metadata: {query: x, threshold: 1, serverAddress: 'prometheus:9090'}}]"), "serverAddress must be an http:// or https:// URL"},
		{"credentials in a header", withSpec(t, "triggers", "[{type: prometheus, metadata: {query: x, threshold: 1, headers: {Authorization: 'Bearer x'}}}]"), "only the tenant headers X-Scope-OrgID and THANOS-TENANT are allowed"},
		{"a header that is not a tenant header", withSpec(t, "triggers", "[{type: prometheus, metadata: {query: x, threshold: 1, headers: {X-Scope-OrgID: a, Host: metadata}}}]"), "only the tenant headers"},
		{"authSecretRef without a name", withSpec(t, "triggers", "[{type: prometheus, metadata: {query: x, threshold: 1, authSecretRef: {}}}]"), "spec.triggers[0].metadata.authSecretRef.name: Required value"},
		{"wakeBurst without requestsPerReplica", withSpec(t, "wakeBurst", "{maxReplicas: 5}"), "spec.wakeBurst.requestsPerReplica: Required value"},
		{"wakeBurst requestsPerReplica 0", withSpec(t, "wakeBurst", "{requestsPerReplica: 0, maxReplicas: 5}"), "spec.wakeBurst.requestsPerReplica in body should be greater than or equal to 1"},
		{"wakeBurst maxReplicas 0", withSpec(t, "wakeBurst", "{requestsPerReplica: 10, maxReplicas: 0}"), "spec.wakeBurst.maxReplicas in body should be greater than or equal to 1"},
		{"wakeBurst maxReplicas below minTargetReplicas", withSpec(t, "wakeBurst", "{requestsPerReplica: 10, maxReplicas: 2}") + "minTargetReplicas: 3\n", "wakeBurst.maxReplicas must be at least minTargetReplicas"},
		{"unknown autoscaler", withSpec(t, "autoscaler", "{type: vpa, name: x}"), `spec.autoscaler.type: Unsupported value: "vpa": supported values: "hpa", "keda"`},
		{"cron with 6 fields", withSpec(t, "enabledPeriod", "{schedule: '0 0 9 * * 1-5', duration: 8h}"), "schedule must be a 5-field cron expression"},
		{"cron bad minute", withSpec(t, "enabledPeriod", "{schedule: '61 9 * * *', duration: 8h}"), "the minute field (1st) must be"},
		{"cron bad hour", withSpec(t, "enabledPeriod", "{schedule: '0 24 * * *', duration: 8h}"), "the hour field (2nd) must be"},
		{"cron bad day of month", withSpec(t, "enabledPeriod", "{schedule: '0 9 0 * *', duration: 8h}"), "the day-of-month field (3rd) must be"},
		{"cron bad month", withSpec(t, "enabledPeriod", "{schedule: '0 9 * 13 *', duration: 8h}"), "the month field (4th) must be"},
		{"cron bad weekday", withSpec(t, "enabledPeriod", "{schedule: '0 9 * * MON-FUNDAY', duration: 8h}"), "the day-of-week field (5th) must be"},
		{"cron bad descriptor", withSpec(t, "enabledPeriod", "{schedule: '@sometimes', duration: 8h}"), "schedule must be a 5-field cron expression"},
		{"bad duration", withSpec(t, "enabledPeriod", "{schedule: '0 9 * * *', duration: 8 hours}"), "duration must be a positive Go duration such as 30m"},
		{"zero duration", withSpec(t, "enabledPeriod", "{schedule: '0 9 * * *', duration: 0s}"), "duration must be a positive Go duration"},
		{"bad time zone", withSpec(t, "enabledPeriod", "{schedule: '0 9 * * *', duration: 8h, timeZone: 'Europe Berlin'}"), "timeZone must be an IANA time zone name"},
	}
	for i, tt := range invalid {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			err := c.Create(ctx, object(t, "invalid-"+strings.Repeat("x", i+1), tt.spec))
			require.Error(t, err, "spec was accepted:\n%s", tt.spec)
			assert.Contains(t, err.Error(), tt.want)
		})
	}

	t.Run("kubectl get shows the printer columns", func(t *testing.T) {
		// kubectl asks the server for a Table; ask the same way and check what it would print.
		cs, err := kubernetes.NewForConfig(env.Config)
		require.NoError(t, err)
		raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/apis/elasti.dev/v1alpha1/namespaces/default/elastiservices/full").
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
		require.NoError(t, err)
		var table metav1.Table
		require.NoError(t, json.Unmarshal(raw, &table))
		var names []string
		for _, c := range table.ColumnDefinitions {
			names = append(names, c.Name)
		}
		assert.Equal(t, []string{"Name", "Service", "Target", "Kind", "Mode", "Ready", "Why", "Rate", "Age"}, names)
		require.Len(t, table.Rows, 1)
		assert.Equal(t, []any{"full", "orders", "orders", "Deployment"}, table.Rows[0].Cells[:4])
	})

	t.Run("status subresource keeps spec and status apart", func(t *testing.T) {
		var es v1alpha1.ElastiService
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "full"}, &es))
		es.Status.Mode = v1alpha1.ModeProxy
		es.Status.ObservedGeneration = es.Generation
		es.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Proxying", LastTransitionTime: metav1.Now()}}
		require.NoError(t, c.Status().Update(ctx, &es))
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "full"}, &es))
		assert.Equal(t, v1alpha1.ModeProxy, es.Status.Mode)
		assert.Equal(t, "True", es.Status.ConditionStatus(v1alpha1.ConditionReady))
		es.Status.Mode = "sideways"
		err := c.Status().Update(ctx, &es)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `Unsupported value: "sideways"`)
	})
}

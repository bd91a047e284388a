package framework

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
)

// ElastiServiceFor returns an ElastiService for the app with no triggers (manual scale to zero
// only) and a cooldown of 0; callers add triggers.
func ElastiServiceFor(app *App) *elastiv1.ElastiService {
	kind := "Deployment"
	if app.StatefulSet {
		kind = "StatefulSet"
	}
	return &elastiv1.ElastiService{
		ObjectMeta: metav1.ObjectMeta{Name: app.Name, Namespace: app.NS.Name},
		Spec: elastiv1.ElastiServiceSpec{
			Service:           app.Name,
			ScaleTargetRef:    elastiv1.ScaleTargetRef{APIVersion: "apps/v1", Kind: kind, Name: app.Name},
			MinTargetReplicas: 1,
			CooldownPeriod:    ptr.To[int32](0),
		},
	}
}

// PrometheusTrigger is a prometheus trigger: idle while query < threshold.
func PrometheusTrigger(server, query, threshold, uptimeFilter string) elastiv1.ScaleTrigger {
	return elastiv1.ScaleTrigger{Type: elastiv1.TriggerTypePrometheus, Metadata: elastiv1.TriggerMetadata{
		Query: query, ServerAddress: server, UptimeFilter: uptimeFilter,
		Threshold: &apiextensionsv1.JSON{Raw: []byte(fmt.Sprintf("%q", threshold))},
	}}
}

// CreateElastiService creates es.
func (e *Env) CreateElastiService(ctx context.Context, es *elastiv1.ElastiService) error {
	if err := e.Client.Create(ctx, es); err != nil {
		return fmt.Errorf("creating ElastiService %s/%s: %w", es.Namespace, es.Name, err)
	}
	return nil
}

// GetElastiService reads one.
func (a *App) GetElastiService(ctx context.Context) (*elastiv1.ElastiService, error) {
	var es elastiv1.ElastiService
	if err := a.NS.env.Client.Get(ctx, client.ObjectKey{Namespace: a.NS.Name, Name: a.Name}, &es); err != nil {
		return nil, fmt.Errorf("reading ElastiService %s/%s: %w", a.NS.Name, a.Name, err)
	}
	return &es, nil
}

func (a *App) resource() string {
	if a.StatefulSet {
		return "statefulsets"
	}
	return "deployments"
}

// Scale reads the target's /scale: spec and status replicas.
func (a *App) Scale(ctx context.Context) (*autoscalingv1.Scale, error) {
	var s autoscalingv1.Scale
	err := a.NS.env.Kube.AppsV1().RESTClient().Get().Namespace(a.NS.Name).Resource(a.resource()).Name(a.Name).SubResource("scale").Do(ctx).Into(&s)
	if err != nil {
		return nil, fmt.Errorf("reading %s/%s scale: %w", a.resource(), a.Name, err)
	}
	return &s, nil
}

// SetReplicas scales the target by hand through /scale, as `kubectl scale` does.
func (a *App) SetReplicas(ctx context.Context, replicas int32) error {
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	err := a.NS.env.Kube.AppsV1().RESTClient().Patch("application/merge-patch+json").Namespace(a.NS.Name).
		Resource(a.resource()).Name(a.Name).SubResource("scale").Body([]byte(patch)).Do(ctx).Error()
	if err != nil {
		return fmt.Errorf("scaling %s/%s to %d: %w", a.resource(), a.Name, replicas, err)
	}
	return nil
}

// State is what a user checks: the ElastiService's mode and conditions, the target's replicas,
// and the EndpointSlices Elasti owns for the Service.
type State struct {
	Mode          elastiv1.Mode
	Conditions    []metav1.Condition
	SpecReplicas  int32
	ReadyReplicas int32
	// ProxySlices are the EndpointSlices managed by Elasti for the Service.
	ProxySlices []discoveryv1.EndpointSlice
}

// ProxyAddresses are the ready addresses of Elasti's slices, sorted.
func (s *State) ProxyAddresses() []string {
	var out []string
	for _, sl := range s.ProxySlices {
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				out = append(out, ep.Addresses...)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Condition returns the status of one condition type ("" when absent).
func (s *State) Condition(t string) metav1.ConditionStatus {
	for _, c := range s.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func (s *State) String() string {
	return fmt.Sprintf("mode=%q replicas(spec=%d ready=%d) proxy-addresses=%v conditions=[%s]",
		s.Mode, s.SpecReplicas, s.ReadyReplicas, s.ProxyAddresses(), conditionSummary(s.Conditions))
}

// State reads the app's current State.
func (a *App) State(ctx context.Context) (*State, error) {
	es, err := a.GetElastiService(ctx)
	if err != nil {
		return nil, err
	}
	sc, err := a.Scale(ctx)
	if err != nil {
		return nil, err
	}
	st := &State{Mode: es.Status.Mode, Conditions: es.Status.Conditions, SpecReplicas: sc.Spec.Replicas}
	ready, err := a.readyReplicas(ctx)
	if err != nil {
		return nil, err
	}
	st.ReadyReplicas = ready
	slices, err := a.NS.env.Kube.DiscoveryV1().EndpointSlices(a.NS.Name).List(ctx, metav1.ListOptions{
		LabelSelector: "kubernetes.io/service-name=" + a.Name + ",endpointslice.kubernetes.io/managed-by=" + names.ControllerName,
	})
	if err != nil {
		return nil, fmt.Errorf("listing slices of %s: %w", a.Name, err)
	}
	st.ProxySlices = slices.Items
	return st, nil
}

func (a *App) readyReplicas(ctx context.Context) (int32, error) {
	if a.StatefulSet {
		s, err := a.NS.env.Kube.AppsV1().StatefulSets(a.NS.Name).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return 0, fmt.Errorf("reading statefulset %s: %w", a.Name, err)
		}
		return s.Status.ReadyReplicas, nil
	}
	d, err := a.NS.env.Kube.AppsV1().Deployments(a.NS.Name).Get(ctx, a.Name, metav1.GetOptions{})
	if err != nil {
		return 0, fmt.Errorf("reading deployment %s: %w", a.Name, err)
	}
	return d.Status.ReadyReplicas, nil
}

// WaitState polls the app's State until ok says so.
func (a *App) WaitState(ctx context.Context, timeout time.Duration, what string, ok func(*State) bool) (*State, error) {
	var last *State
	err := Poll(ctx, timeout, 200*time.Millisecond, fmt.Sprintf("%s/%s: %s", a.NS.Name, a.Name, what),
		func(ctx context.Context) (bool, string, error) {
			st, err := a.State(ctx)
			if err != nil {
				return false, "", err
			}
			last = st
			return ok(st), st.String(), nil
		})
	return last, err
}

// InProxyMode: the ElastiService says proxy and the Service's Elasti slice lists ready sidecars.
func InProxyMode(s *State) bool {
	return s.Mode == elastiv1.ModeProxy && len(s.ProxyAddresses()) > 0
}

// AtZeroInProxyMode: proxy mode and the target scaled to zero.
func AtZeroInProxyMode(s *State) bool { return InProxyMode(s) && s.SpecReplicas == 0 }

// InServeMode: the ElastiService says serve, Elasti owns no slice, and a replica is ready.
func InServeMode(s *State) bool {
	return s.Mode == elastiv1.ModeServe && len(s.ProxySlices) == 0 && s.ReadyReplicas > 0
}

func sliceSummary(s *discoveryv1.EndpointSlice) string {
	var parts []string
	for _, ep := range s.Endpoints {
		ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
		parts = append(parts, fmt.Sprintf("%s(ready=%v)", strings.Join(ep.Addresses, "/"), ready))
	}
	return strings.Join(parts, ",")
}

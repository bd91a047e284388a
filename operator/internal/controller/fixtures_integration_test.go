//go:build integration

package controller

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/operator/internal/cacheopts"
	"github.com/elasti-dev/elasti/operator/internal/ports"
	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/pkg/portrange"
	"github.com/elasti-dev/elasti/pkg/scaling"
)

const (
	waitFor = 20 * time.Second
	tick    = 50 * time.Millisecond
	shopNS  = "shop"
	edgeNS  = "edge"
	leaseNS = names.SystemNamespace
)

// fakeEvaluator says idle (or not) as told, and counts its calls.
type fakeEvaluator struct {
	idle  atomic.Bool
	calls atomic.Int32
}

func (f *fakeEvaluator) Idle(context.Context, *v1alpha1.ElastiService) (bool, error) {
	f.calls.Add(1)
	return f.idle.Load(), nil
}

// countingScaler counts ScaleToZero calls on top of the real ScaleHandler.
type countingScaler struct {
	*scaling.ScaleHandler
	toZero *atomic.Int32
}

func (c countingScaler) ScaleToZero(ctx context.Context, es *v1alpha1.ElastiService) error {
	c.toZero.Add(1)
	return c.ScaleHandler.ScaleToZero(ctx, es)
}

// operator is one operator replica's controller and loop, in a manager.
type operator struct {
	mgr  ctrl.Manager
	rec  *Reconciler
	loop *ScaleDownLoop
	eval *fakeEvaluator
}

// testPortRange is the sidecar port range of the integration tests' operators.
var testPortRange = portrange.Range{First: 21000, Last: 21099}

// newOperator builds a manager with the reconciler and the loop (not started). leaderID != ""
// enables leader election with short leases.
func newOperator(t *testing.T, env *testenv.Env, leaderID string, toZero *atomic.Int32) *operator {
	return newOperatorWithPorts(t, env, leaderID, toZero, testPortRange)
}

// newOperatorWithPorts is newOperator with a sidecar port range of its own.
func newOperatorWithPorts(t *testing.T, env *testenv.Env, leaderID string, toZero *atomic.Int32, pr portrange.Range) *operator {
	t.Helper()
	return newOperatorWith(t, env, env.Config, operatorSettings{leaderID: leaderID, toZero: toZero, ports: pr})
}

// operatorSettings: how newOperatorWith builds an operator (zero values: no leader election, no
// scale counting, the reconciler's default workers).
type operatorSettings struct {
	leaderID string
	toZero   *atomic.Int32
	ports    portrange.Range
	workers  int
}

// newOperatorWith builds an operator whose clients use cfg.
func newOperatorWith(t *testing.T, env *testenv.Env, cfg *rest.Config, s operatorSettings) *operator {
	t.Helper()
	leaderID, toZero, pr := s.leaderID, s.toZero, s.ports
	opts := ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 zap.New(zap.UseDevMode(true)),
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		Cache:                  cacheopts.Options(leaseNS), // trimmed objects, as in the operator
	}
	if leaderID != "" {
		opts.LeaderElection, opts.LeaderElectionID, opts.LeaderElectionNamespace = true, leaderID, leaseNS
		opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod = ptr.To(2*time.Second), ptr.To(time.Second), ptr.To(200*time.Millisecond)
		opts.LeaderElectionReleaseOnCancel = true
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	require.NoError(t, err)
	sh, err := scaling.NewForConfig(mgr.GetConfig(), mgr.GetClient(), mgr.GetRESTMapper())
	require.NoError(t, err)
	var scaler Scaler = sh
	if toZero != nil {
		scaler = countingScaler{ScaleHandler: sh, toZero: toZero}
	}
	rec := &Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scaler: scaler, Recorder: mgr.GetEventRecorder("elasti-operator"),
		Tracker: NewTracker(), ResyncPeriod: time.Second, Ports: ports.New(pr), Trust: testTrust(t, mgr.GetClient()),
		Sidecars: &acks.Store{Client: mgr.GetClient(), Namespace: leaseNS}, Workers: s.workers}
	require.NoError(t, rec.SetupWithManager(context.Background(), mgr))
	eval := &fakeEvaluator{}
	loop := &ScaleDownLoop{Controller: rec, Scaler: scaler, Tracker: rec.Tracker, APIReader: mgr.GetAPIReader(), Evaluator: eval,
		PollInterval: 200 * time.Millisecond, AckTimeout: 5 * time.Second}
	return &operator{mgr: mgr, rec: rec, loop: loop, eval: eval}
}

// start runs the manager until the test ends.
func (o *operator) start(t *testing.T) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := o.mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	require.True(t, o.mgr.GetCache().WaitForCacheSync(ctx))
	return cancel
}

func mustCreate(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil && !apierrors.IsAlreadyExists(err) {
			require.NoError(t, err, "creating %T %s", o, o.GetName())
		}
	}
}

func namespaces() []client.Object {
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: shopNS}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: edgeNS, Annotations: map[string]string{names.AnnotationInject: names.InjectEnabled}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: leaseNS}},
	}
}

// workload is a Deployment and its Service with two TCP ports.
func workload(name string, replicas int32) []client.Object {
	labels := map[string]string{"app": name}
	return []client.Object{
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shopNS},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(replicas),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
				},
			},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shopNS},
			Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
				{Name: "grpc", Port: 9090, TargetPort: intstr.FromInt32(9090)},
			}},
		},
	}
}

func elastiService(name string, triggers bool) *v1alpha1.ElastiService {
	es := &v1alpha1.ElastiService{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shopNS},
		Spec: v1alpha1.ElastiServiceSpec{
			Service:           name,
			ScaleTargetRef:    v1alpha1.ScaleTargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MinTargetReplicas: 2,
			CooldownPeriod:    ptr.To[int32](0),
		},
	}
	if triggers {
		es.Spec.Triggers = []v1alpha1.ScaleTrigger{{Type: v1alpha1.TriggerTypePrometheus, Metadata: v1alpha1.TriggerMetadata{Query: "up"}}}
	}
	return es
}

// startSidecar creates a gateway pod carrying a native resolver sidecar in the opted-in namespace
// and writes its status (no kubelet in envtest).
func startSidecar(t *testing.T, c client.Client, name, ip string, ready bool) *corev1.Pod {
	t.Helper()
	return startSidecarIn(t, c, edgeNS, name, ip, ready)
}

// startSidecarIn is startSidecar in any namespace.
func startSidecarIn(t *testing.T, c client.Client, namespace, name, ip string, ready bool) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{names.LabelResolver: "true"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: names.SidecarContainerName, Image: testSidecarImage,
				RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Ports:         []corev1.ContainerPort{{Name: names.PortNameProxy, ContainerPort: names.DefaultProxyPort}}}},
			Containers: []corev1.Container{{Name: "gateway", Image: "gateway"}},
		},
	}
	mustCreate(t, c, p)
	setSidecarStatus(t, c, p, ip, ready)
	return p
}

func setSidecarStatus(t *testing.T, c client.Client, p *corev1.Pod, ip string, ready bool) {
	t.Helper()
	p.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		InitContainerStatuses: []corev1.ContainerStatus{{Name: names.SidecarContainerName, Ready: true, Image: testSidecarImage, ImageID: "resolver"}},
		ContainerStatuses:     []corev1.ContainerStatus{{Name: "gateway", Ready: true, Image: "gateway", ImageID: "gateway"}},
	}
	require.NoError(t, c.Status().Update(context.Background(), p))
	setSidecarLive(t, c, p, ready)
}

// setSidecarLive does what a running sidecar's stream does to its acknowledgement Lease: live,
// its stream connects and it acknowledges every service of the tests; not live, its stream ends
// (the process crashed).
func setSidecarLive(t *testing.T, c client.Client, p *corev1.Pod, live bool) {
	t.Helper()
	store := &acks.Store{Client: c, Namespace: leaseNS}
	sc := acks.Sidecar{Namespace: p.Namespace, Name: p.Name, UID: p.UID}
	if !live {
		require.NoError(t, store.Disconnect(context.Background(), sc, "stream-"+p.Name))
		return
	}
	require.NoError(t, store.Connect(context.Background(), sc, "1", "stream-"+p.Name))
	_, err := store.Record(context.Background(), sc, []string{"shop/orders", "shop/cart"})
	require.NoError(t, err)
}

func ack(t *testing.T, c client.Client, pod *corev1.Pod, keys string) {
	t.Helper()
	var services []string
	if keys != "" {
		services = strings.Split(keys, ",")
	}
	store := &acks.Store{Client: c, Namespace: leaseNS}
	_, err := store.Record(context.Background(), acks.Sidecar{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}, services)
	require.NoError(t, err)
}

// setTargetEndpoints writes the Service's own EndpointSlice (the endpoint controller's job) with
// one pod endpoint, ready or not.
func setTargetEndpoints(t *testing.T, c client.Client, service string, ready bool) {
	t.Helper()
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: service + "-pods", Namespace: shopNS, Labels: map[string]string{
			discoveryv1.LabelServiceName: service, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
	}
	cur := &discoveryv1.EndpointSlice{}
	err := c.Get(context.Background(), client.ObjectKeyFromObject(s), cur)
	if apierrors.IsNotFound(err) {
		require.NoError(t, c.Create(context.Background(), s))
		return
	}
	require.NoError(t, err)
	cur.Endpoints = s.Endpoints
	require.NoError(t, c.Update(context.Background(), cur))
}

// setReplicas writes the Deployment's /scale, as kubectl scale or an HPA would.
func setReplicas(t *testing.T, c client.Client, name string, n int32) {
	t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shopNS}}
	sc := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: n}}
	require.NoError(t, c.SubResource("scale").Update(context.Background(), d, client.WithSubResourceBody(sc)))
}

func replicas(t *testing.T, c client.Client, name string) int32 {
	t.Helper()
	d := &appsv1.Deployment{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Namespace: shopNS, Name: name}, d))
	return ptr.Deref(d.Spec.Replicas, 1)
}

func getES(t require.TestingT, c client.Client, name string) *v1alpha1.ElastiService {
	es := &v1alpha1.ElastiService{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Namespace: shopNS, Name: name}, es))
	return es
}

func proxySlices(t require.TestingT, c client.Client, es string) []discoveryv1.EndpointSlice {
	list := &discoveryv1.EndpointSliceList{}
	require.NoError(t, c.List(context.Background(), list, client.InNamespace(shopNS),
		client.MatchingLabels{names.LabelElastiService: es, discoveryv1.LabelManagedBy: names.ControllerName}))
	return list.Items
}

package framework

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// AppOptions describe a demo app: a Deployment (or StatefulSet) and its Service.
type AppOptions struct {
	Name string
	// Replicas at creation (default 1; 0 is allowed with ZeroReplicas).
	Replicas     int32
	ZeroReplicas bool
	// StartupDelay is the demo app's --startup-delay (default 1s).
	StartupDelay time.Duration
	// StatefulSet makes the target a StatefulSet instead of a Deployment.
	StatefulSet bool
	// SecondPort adds a second container listening on 8081 answering SecondMessage, and a second
	// Service port "alt" 8081 → 8081.
	SecondPort bool
	// Image overrides the demo app image; Args and Port then describe it (a gRPC server, say).
	Image string
	Args  []string
	Port  int32
	// AppProtocol of the Service's first port (e.g. "kubernetes.io/h2c").
	AppProtocol string
	// TCPProbe uses a TCP readiness probe instead of HTTP GET /healthz.
	TCPProbe bool
	// Message is what / answers (default AppMessage(Name)): tells apart two apps of one name in
	// different namespaces.
	Message string
}

// App is a deployed demo app.
type App struct {
	NS          *Namespace
	Name        string
	StatefulSet bool
	Port        int32
}

// AppMessage is what the first container of a demo app answers on /; SecondMessage is the second's.
func AppMessage(name string) string    { return "hello from " + name }
func SecondMessage(name string) string { return "second port of " + name }

func (o *AppOptions) defaults() {
	if o.Replicas == 0 && !o.ZeroReplicas {
		o.Replicas = 1
	}
	if o.StartupDelay == 0 {
		o.StartupDelay = time.Second
	}
	if o.Port == 0 {
		o.Port = 8080
	}
}

// DeployApp creates the workload and its Service (it does not wait).
func (n *Namespace) DeployApp(ctx context.Context, o AppOptions) (*App, error) {
	o.defaults()
	tmpl := n.appTemplate(o)
	labels := map[string]string{"app": o.Name}
	sel := &metav1.LabelSelector{MatchLabels: labels}
	var err error
	if o.StatefulSet {
		_, err = n.env.Kube.AppsV1().StatefulSets(n.Name).Create(ctx, &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: labels},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(o.Replicas), Selector: sel, Template: tmpl, ServiceName: o.Name,
				PodManagementPolicy: appsv1.ParallelPodManagement},
		}, metav1.CreateOptions{})
	} else {
		_, err = n.env.Kube.AppsV1().Deployments(n.Name).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: labels},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(o.Replicas), Selector: sel, Template: tmpl},
		}, metav1.CreateOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("creating workload %s/%s: %w", n.Name, o.Name, err)
	}
	if _, err := n.env.Kube.CoreV1().Services(n.Name).Create(ctx, appService(o), metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating service %s/%s: %w", n.Name, o.Name, err)
	}
	return &App{NS: n, Name: o.Name, StatefulSet: o.StatefulSet, Port: o.Port}, nil
}

func appService(o AppOptions) *corev1.Service {
	ports := []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}
	if o.AppProtocol != "" {
		ports[0].AppProtocol = ptr.To(o.AppProtocol)
	}
	if o.SecondPort {
		ports = append(ports, corev1.ServicePort{Name: "alt", Port: 8081, TargetPort: intstr.FromString("alt"), Protocol: corev1.ProtocolTCP})
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: map[string]string{"app": o.Name}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": o.Name}, Ports: ports},
	}
}

func (n *Namespace) appTemplate(o AppOptions) corev1.PodTemplateSpec {
	image, args := n.env.Config.DemoImage, o.Args
	if o.Image != "" {
		image = o.Image
	} else if args == nil {
		msg := o.Message
		if msg == "" {
			msg = AppMessage(o.Name)
		}
		args = []string{"--listen=:8080", "--startup-delay=" + o.StartupDelay.String(), "--message=" + msg}
	}
	probe := &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
		PeriodSeconds: 1, TimeoutSeconds: 1, FailureThreshold: 1, SuccessThreshold: 1,
	}
	if o.TCPProbe {
		probe.ProbeHandler = corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}
	}
	containers := []corev1.Container{{
		Name: "app", Image: image, ImagePullPolicy: corev1.PullIfNotPresent, Args: args,
		Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: o.Port}},
		ReadinessProbe: probe,
		// As any app behind a Service should: keep serving for a moment after termination starts,
		// until kube-proxy and the gateways stop sending it new connections. Without it, a pod being
		// scaled down refuses connections that kube-proxy still routes to it (a Kubernetes race,
		// not Elasti's), which the flip scenario would count as failures.
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 1}}},
	}}
	if o.SecondPort {
		second := containers[0].DeepCopy()
		second.Name, second.Args = "alt", []string{"--listen=:8081", "--startup-delay=" + o.StartupDelay.String(), "--message=" + SecondMessage(o.Name)}
		second.Ports = []corev1.ContainerPort{{Name: "alt", ContainerPort: 8081}}
		second.ReadinessProbe = probe.DeepCopy()
		second.ReadinessProbe.HTTPGet.Port = intstr.FromString("alt")
		containers = append(containers, *second)
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{"app": o.Name},
			Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": fmt.Sprint(o.Port)},
		},
		// The grace period must cover the preStop sleep, the app's own --shutdown-delay (2 s) and
		// the requests still in flight; a shorter one kills a pod mid-response.
		Spec: corev1.PodSpec{Containers: containers, TerminationGracePeriodSeconds: ptr.To[int64](10)},
	}
}

// DeployGateway creates the demo gateway Deployment (label app=e2e-gateway, so an opted-in
// namespace selects it) and waits until its pods are ready. extraAnnotations go on the pods.
func (n *Namespace) DeployGateway(ctx context.Context, name string, replicas int32, extraAnnotations map[string]string) error {
	labels := map[string]string{"app": "e2e-gateway", "e2e-gateway": name}
	_, err := n.env.Kube.AppsV1().Deployments(n.Name).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: extraAnnotations},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](2),
					Containers: []corev1.Container{{
						Name: "gateway", Image: n.env.Config.GatewayImage, ImagePullPolicy: corev1.PullIfNotPresent,
						Args:  []string{"--listen=:8080"},
						Env:   []corev1.EnvVar{{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}},
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/-/healthz", Port: intstr.FromString("http")}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating gateway %s/%s: %w", n.Name, name, err)
	}
	return n.WaitDeploymentReady(ctx, name, replicas, n.env.Config.Scale(90*time.Second))
}

// GatewayPods returns the ready pods of the named gateway Deployment.
func (n *Namespace) GatewayPods(ctx context.Context, name string) ([]corev1.Pod, error) {
	pods, err := n.env.PodsBySelector(ctx, n.Name, "e2e-gateway="+name)
	if err != nil {
		return nil, err
	}
	var ready []corev1.Pod
	for _, p := range pods {
		if PodReady(&p) && p.DeletionTimestamp == nil {
			ready = append(ready, p)
		}
	}
	if len(ready) == 0 {
		return nil, fmt.Errorf("gateway %s/%s has no ready pod", n.Name, name)
	}
	return ready, nil
}

// WaitDeploymentReady waits until the Deployment has want updated, ready replicas and no others.
func (n *Namespace) WaitDeploymentReady(ctx context.Context, name string, want int32, timeout time.Duration) error {
	return Poll(ctx, timeout, 250*time.Millisecond, fmt.Sprintf("deployment %s/%s to have %d ready replicas", n.Name, name, want),
		func(ctx context.Context) (bool, string, error) {
			d, err := n.env.Kube.AppsV1().Deployments(n.Name).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			s := d.Status
			state := fmt.Sprintf("replicas=%d updated=%d ready=%d available=%d", s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas)
			return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.ReadyReplicas == want && s.Replicas == want, state, nil
		})
}

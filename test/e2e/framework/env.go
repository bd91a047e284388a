package framework

import (
	"context"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
)

// Env holds the clients of the cluster under test.
type Env struct {
	Config  Config
	REST    *rest.Config
	Kube    kubernetes.Interface
	Client  client.Client
	Dynamic dynamic.Interface
	Scheme  *runtime.Scheme
}

// NewScheme returns client-go's scheme plus Elasti's API.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(elastiv1.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	return s
}

// NewEnv builds clients from cfg.Kubeconfig. Its QPS is high: the suite polls many objects.
func NewEnv(cfg Config) (*Env, error) {
	if cfg.Kubeconfig == "" {
		return nil, fmt.Errorf("KUBECONFIG is not set: point it at the cluster under test")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	rc.QPS, rc.Burst = 200, 400
	rc.Timeout = 30 * time.Second
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("building clientset: %w", err)
	}
	scheme := NewScheme()
	c, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("building controller-runtime client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("building dynamic client: %w", err)
	}
	return &Env{Config: cfg, REST: rc, Kube: kube, Client: c, Dynamic: dyn, Scheme: scheme}, nil
}

// Preflight checks that the suite can do its job here: the API server answers, the
// ElastiService CRD is installed, the operator and webhook Deployments are available, and this
// process can reach ClusterIPs (it dials the kubernetes Service). The error says what is missing.
func (e *Env) Preflight(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := e.Kube.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("the API server does not answer: %w", err)
	}
	var list elastiv1.ElastiServiceList
	if err := e.Client.List(ctx, &list); err != nil {
		return fmt.Errorf("the ElastiService API is not served (is Elasti installed? `make install`): %w", err)
	}
	for _, name := range []string{"elasti-operator", "elasti-webhook"} {
		if err := e.deploymentAvailable(ctx, name); err != nil {
			return err
		}
	}
	svc, err := e.Kube.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the kubernetes Service: %w", err)
	}
	addr := net.JoinHostPort(svc.Spec.ClusterIP, fmt.Sprint(svc.Spec.Ports[0].Port))
	conn, err := (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("this process cannot reach ClusterIPs (dialing %s: %v); run the suite on a node of the cluster (hack/e2e-kind.sh runs it inside the kind node)", addr, err)
	}
	_ = conn.Close()
	return nil
}

func (e *Env) deploymentAvailable(ctx context.Context, name string) error {
	d, err := e.Kube.AppsV1().Deployments(e.Config.SystemNamespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("deployment %s/%s: %w (is Elasti installed? `make install`)", e.Config.SystemNamespace, name, err)
	}
	if d.Status.AvailableReplicas < 1 {
		return fmt.Errorf("deployment %s/%s has no available replica", e.Config.SystemNamespace, name)
	}
	return nil
}

// PodsBySelector lists pods of a namespace matching a label selector.
func (e *Env) PodsBySelector(ctx context.Context, ns, selector string) ([]corev1.Pod, error) {
	list, err := e.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing pods %s in %s: %w", selector, ns, err)
	}
	return list.Items, nil
}

// PodReady reports whether the pod's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

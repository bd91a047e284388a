package framework

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elastiv1 "github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
)

// GatewayLabel is the label of the demo gateway pods; opted-in namespaces select them with it.
const GatewayLabel = "app=e2e-gateway"

// Namespace is one test's namespace.
type Namespace struct {
	Name string
	env  *Env
	// LabelMirrored is false when the opt-in annotation was not mirrored onto the namespace label
	// in time and the suite set the label itself so the other scenarios could go on.
	LabelMirrored bool
}

// NamespaceOptions say how to create a namespace.
type NamespaceOptions struct {
	// OptIn annotates the namespace with elasti.dev/inject=enabled and the gateway selector.
	OptIn bool
	// GatewaySelector is the namespace's elasti.dev/gateway-selector when OptIn is set (default
	// GatewayLabel, the demo gateway; TraefikGatewaySelector for a namespace that runs Traefik).
	GatewaySelector string
}

// CreateNamespace creates "<prefix>-<random>" labelled as the suite's, and, when opted in, waits
// until the opt-in annotation has been mirrored onto the label the webhook's namespaceSelector uses.
func (e *Env) CreateNamespace(ctx context.Context, prefix string, o NamespaceOptions) (*Namespace, error) {
	name := fmt.Sprintf("%s-%05d", prefix, rand.IntN(100000))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   name,
		Labels: map[string]string{"elasti.dev/e2e": "true"},
	}}
	if o.OptIn {
		selector := o.GatewaySelector
		if selector == "" {
			selector = GatewayLabel
		}
		ns.Annotations = map[string]string{
			names.AnnotationInject:          names.InjectEnabled,
			names.AnnotationGatewaySelector: selector,
		}
	}
	if _, err := e.Kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", name, err)
	}
	n := &Namespace{Name: name, env: e, LabelMirrored: true}
	if o.OptIn {
		if err := n.awaitLabel(ctx); err != nil {
			return n, err
		}
	}
	return n, nil
}

// ExistingNamespace is a namespace that exists already (created by a manifest, say), for the
// helpers that take a *Namespace. Its Delete deletes it like any other.
func (e *Env) ExistingNamespace(name string) *Namespace {
	return &Namespace{Name: name, env: e, LabelMirrored: true}
}

// awaitLabel waits for the mirrored opt-in label; if it never comes, it sets the label itself,
// records that, and goes on.
func (n *Namespace) awaitLabel(ctx context.Context) error {
	err := Poll(ctx, n.env.Config.Scale(15*time.Second), 200*time.Millisecond, "namespace label "+names.LabelInject,
		func(ctx context.Context) (bool, string, error) {
			ns, err := n.env.Kube.CoreV1().Namespaces().Get(ctx, n.Name, metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			return ns.Labels[names.LabelInject] == names.InjectEnabled, fmt.Sprintf("labels %v", ns.Labels), nil
		})
	if err == nil {
		return nil
	}
	n.LabelMirrored = false
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, names.LabelInject, names.InjectEnabled)
	if _, err := n.env.Kube.CoreV1().Namespaces().Patch(ctx, n.Name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("labelling namespace %s: %w", n.Name, err)
	}
	return nil
}

// Delete removes the ElastiServices first (their finalizers need a running operator), then the
// namespace, and waits until it is gone.
func (n *Namespace) Delete(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.env.Config.Scale(90*time.Second))
	defer cancel()
	err := n.env.Client.DeleteAllOf(ctx, &elastiv1.ElastiService{}, client.InNamespace(n.Name))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting ElastiServices in %s: %w", n.Name, err)
	}
	grace := int64(1)
	err = n.env.Kube.CoreV1().Namespaces().Delete(ctx, n.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting namespace %s: %w", n.Name, err)
	}
	return Poll(ctx, n.env.Config.Scale(90*time.Second), 500*time.Millisecond, "namespace "+n.Name+" to be gone",
		func(ctx context.Context) (bool, string, error) {
			ns, err := n.env.Kube.CoreV1().Namespaces().Get(ctx, n.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, "", nil
			}
			if err != nil {
				return false, "", err
			}
			return false, fmt.Sprintf("phase %s, conditions %v", ns.Status.Phase, ns.Status.Conditions), nil
		})
}

// Dump writes what a person debugging a failure looks at first: pods with their containers and
// state, ElastiServices with mode and conditions, EndpointSlices and the namespace's Events.
func (n *Namespace) Dump(ctx context.Context, w io.Writer) {
	fmt.Fprintf(w, "---- namespace %s ----\n", n.Name)
	if pods, err := n.env.Kube.CoreV1().Pods(n.Name).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pods.Items {
			fmt.Fprintf(w, "pod %s phase=%s ready=%v ip=%s containers=%s\n", p.Name, p.Status.Phase, PodReady(&p), p.Status.PodIP, containerSummary(&p))
		}
		for _, p := range pods.Items {
			n.dumpResolverLog(ctx, w, &p)
		}
	}
	var list elastiv1.ElastiServiceList
	if err := n.env.Client.List(ctx, &list, client.InNamespace(n.Name)); err == nil {
		for _, es := range list.Items {
			fmt.Fprintf(w, "elastiservice %s mode=%s conditions=%s\n", es.Name, es.Status.Mode, conditionSummary(es.Status.Conditions))
		}
	}
	if slices, err := n.env.Kube.DiscoveryV1().EndpointSlices(n.Name).List(ctx, metav1.ListOptions{}); err == nil {
		for _, s := range slices.Items {
			fmt.Fprintf(w, "endpointslice %s service=%s managed-by=%s endpoints=%s\n", s.Name,
				s.Labels["kubernetes.io/service-name"], s.Labels["endpointslice.kubernetes.io/managed-by"], sliceSummary(&s))
		}
	}
	if events, err := n.env.Kube.CoreV1().Events(n.Name).List(ctx, metav1.ListOptions{}); err == nil {
		sort.Slice(events.Items, func(i, j int) bool { return eventTime(&events.Items[i]).Before(eventTime(&events.Items[j])) })
		for _, ev := range events.Items {
			fmt.Fprintf(w, "event %s %s/%s %s: %s\n", eventTime(&ev).Format("15:04:05.000"), ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.Reason, strings.TrimSpace(ev.Message))
		}
	}
}

// dumpResolverLog writes the last lines of the resolver sidecar's log, when the pod has one.
func (n *Namespace) dumpResolverLog(ctx context.Context, w io.Writer, p *corev1.Pod) {
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		if c.Name != names.SidecarContainerName {
			continue
		}
		b, err := n.env.Kube.CoreV1().Pods(n.Name).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, TailLines: ptr.To[int64](12)}).DoRaw(ctx)
		if err != nil {
			fmt.Fprintf(w, "log of %s/%s: %v\n", p.Name, c.Name, err)
			return
		}
		fmt.Fprintf(w, "log of %s/%s (last lines):\n%s\n", p.Name, c.Name, strings.TrimSpace(string(b)))
	}
}

func containerSummary(p *corev1.Pod) string {
	var parts []string
	for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		parts = append(parts, fmt.Sprintf("%s(ready=%v restarts=%d)", s.Name, s.Ready, s.RestartCount))
	}
	return strings.Join(parts, ",")
}

func conditionSummary(cs []metav1.Condition) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return strings.Join(parts, "; ")
}

func eventTime(ev *corev1.Event) time.Time {
	switch {
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	default:
		return ev.CreationTimestamp.Time
	}
}

package inject

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/elasti-dev/elasti/pkg/names"
)

// Reason is the bounded label of every admission outcome: the metric label
// elasti_webhook_admissions_total{reason} and the Event reason use these values only.
type Reason string

// Reasons produced by Mutate. The admission handler adds the request-level ones below.
const (
	ReasonInjected            Reason = "Injected"
	ReasonInjectedWithDefault Reason = "InjectedWithDefaults"
	ReasonSystemNamespace     Reason = "SystemNamespace"
	ReasonNamespaceNotEnabled Reason = "NamespaceNotEnabled"
	ReasonPodOptedOut         Reason = "PodOptedOut"
	ReasonHostNetwork         Reason = "HostNetwork"
	ReasonAlreadyInjected     Reason = "AlreadyInjected"
	ReasonBadGatewaySelector  Reason = "BadGatewaySelector"
	ReasonNotGateway          Reason = "NotGateway"
	ReasonPortClash           Reason = "PortClash"
	ReasonPortInSidecarRange  Reason = "PortInSidecarRange"
)

// Request-level reasons, decided by the admission handler before Mutate runs.
const (
	ReasonNotPodCreate     Reason = "NotPodCreate"
	ReasonUndecodable      Reason = "UndecodablePod"
	ReasonNamespaceUnknown Reason = "NamespaceUnknown"
	ReasonInternalError    Reason = "InternalError"
)

// AllReasons lists every Reason, for docs and for pre-initialising metrics.
var AllReasons = []Reason{
	ReasonInjected, ReasonInjectedWithDefault, ReasonSystemNamespace, ReasonNamespaceNotEnabled,
	ReasonPodOptedOut, ReasonHostNetwork, ReasonAlreadyInjected, ReasonBadGatewaySelector,
	ReasonNotGateway, ReasonPortClash, ReasonPortInSidecarRange, ReasonNotPodCreate, ReasonUndecodable, ReasonNamespaceUnknown,
	ReasonInternalError,
}

// input is what the rules look at: the pod after stripping a previous injection, its namespace,
// and the sidecar's effective ports (after per-pod overrides).
type input struct {
	pod       *corev1.Pod
	ns        *corev1.Namespace
	cfg       *Config
	proxyPort int32
	adminPort int32
}

// Rule is one row of the truth table. Rules are evaluated in order; the first whose skip returns
// a non-empty message decides that the pod is not injected, for Reason.
type Rule struct {
	Reason Reason
	// Doc is the row's text in docs/webhook.md.
	Doc  string
	skip func(in *input) string
}

// Rules is the truth table. A pod that passes every rule is injected.
var Rules = []Rule{
	{ReasonSystemNamespace, "the namespace is kube-system, kube-public, kube-node-lease or Elasti's own", skipSystemNamespace},
	{ReasonNamespaceNotEnabled, "the namespace is not annotated `elasti.dev/inject: enabled` (re-checked from the cache; the label only routes the call)", skipNamespaceNotEnabled},
	{ReasonPodOptedOut, "the pod is annotated `elasti.dev/inject: disabled`", skipOptedOut},
	{ReasonHostNetwork, "the pod uses the host network (its ports would be the node's)", skipHostNetwork},
	{ReasonAlreadyInjected, "the pod already has a container `elasti-resolver` or a volume `elasti-token` that the webhook did not inject (its status annotation does not list them)", skipAlreadyInjected},
	{ReasonBadGatewaySelector, "the pod is not annotated as a gateway and the namespace's `elasti.dev/gateway-selector` does not parse", skipBadSelector},
	{ReasonNotGateway, "the pod is neither annotated `elasti.dev/gateway: \"true\"` nor matched by the namespace's `elasti.dev/gateway-selector`", skipNotGateway},
	{ReasonPortClash, "a container of the pod already uses the sidecar's proxy or admin port (number or name)", skipPortClash},
	{ReasonPortInSidecarRange, "a container of the pod declares a port inside the sidecar port range (`--sidecar-port-range`, default 20000-29999), or the sidecar's own ports were moved into it: the sidecar listens on every port of that range the operator allocates", skipPortInRange},
}

// systemNamespaces are never injected, whatever their annotations say.
var systemNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true}

func skipSystemNamespace(in *input) string {
	if systemNamespaces[in.ns.Name] || in.ns.Name == in.cfg.SystemNamespace {
		return fmt.Sprintf("namespace %q is a system namespace", in.ns.Name)
	}
	return ""
}

func skipNamespaceNotEnabled(in *input) string {
	if v := in.ns.Annotations[names.AnnotationInject]; v != names.InjectEnabled {
		return fmt.Sprintf("namespace %q has %s=%q, want %q", in.ns.Name, names.AnnotationInject, v, names.InjectEnabled)
	}
	return ""
}

func skipOptedOut(in *input) string {
	if in.pod.Annotations[names.AnnotationInject] == names.InjectDisabled {
		return fmt.Sprintf("pod is annotated %s=%s", names.AnnotationInject, names.InjectDisabled)
	}
	return ""
}

func skipHostNetwork(in *input) string {
	if in.pod.Spec.HostNetwork {
		return "pod uses hostNetwork"
	}
	return ""
}

func skipAlreadyInjected(in *input) string {
	for _, list := range [][]corev1.Container{in.pod.Spec.Containers, in.pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == names.SidecarContainerName {
				return fmt.Sprintf("pod already has a container named %q", names.SidecarContainerName)
			}
		}
	}
	for _, v := range in.pod.Spec.Volumes {
		if v.Name == names.SidecarTokenVolume {
			return fmt.Sprintf("pod already has a volume named %q", names.SidecarTokenVolume)
		}
	}
	return ""
}

// IsGateway reports whether pod is a gateway pod of ns, and an error when the namespace's
// selector does not parse (the pod annotation still makes a pod a gateway then).
func IsGateway(pod *corev1.Pod, ns *corev1.Namespace) (bool, error) {
	if pod.Annotations[names.AnnotationGateway] == "true" {
		return true, nil
	}
	raw := ns.Annotations[names.AnnotationGatewaySelector]
	if raw == "" {
		return false, nil
	}
	sel, err := labels.Parse(raw)
	if err != nil {
		return false, fmt.Errorf("parsing %s %q: %w", names.AnnotationGatewaySelector, raw, err)
	}
	return sel.Matches(labels.Set(pod.Labels)), nil
}

func skipBadSelector(in *input) string {
	if _, err := IsGateway(in.pod, in.ns); err != nil {
		return fmt.Sprintf("namespace %q: %v", in.ns.Name, err)
	}
	return ""
}

func skipNotGateway(in *input) string {
	if ok, _ := IsGateway(in.pod, in.ns); !ok {
		return fmt.Sprintf("pod is not a gateway pod (no %s=\"true\" and no match for the namespace's %s)",
			names.AnnotationGateway, names.AnnotationGatewaySelector)
	}
	return ""
}

func skipPortClash(in *input) string {
	for _, c := range podContainers(in.pod) {
		for _, p := range c.Ports {
			if p.ContainerPort == in.proxyPort || p.ContainerPort == in.adminPort {
				return fmt.Sprintf("container %q already uses port %d (set %s or %s to move the sidecar)",
					c.Name, p.ContainerPort, names.AnnotationSidecarProxyPort, names.AnnotationSidecarAdminPort)
			}
			if p.Name == names.PortNameProxy || p.Name == names.PortNameAdmin {
				return fmt.Sprintf("container %q already has a port named %q", c.Name, p.Name)
			}
		}
	}
	return ""
}

func skipPortInRange(in *input) string {
	r := in.cfg.SidecarPortRange
	if r.First == 0 {
		return ""
	}
	for _, c := range podContainers(in.pod) {
		for _, p := range c.Ports {
			if r.Contains(p.ContainerPort) {
				return fmt.Sprintf("container %q declares port %d, inside the sidecar port range %s (the sidecar may listen there): move it out of the range",
					c.Name, p.ContainerPort, r)
			}
		}
	}
	for _, p := range []int32{in.proxyPort, in.adminPort} {
		if r.Contains(p) {
			return fmt.Sprintf("the sidecar's own port %d is inside the sidecar port range %s (set %s and %s outside it)",
				p, r, names.AnnotationSidecarProxyPort, names.AnnotationSidecarAdminPort)
		}
	}
	return ""
}

// podContainers returns the containers that run beside the sidecar: regular containers and
// native sidecars (init containers with restartPolicy Always). Plain init containers have exited
// before the sidecar serves, so their ports cannot clash.
func podContainers(pod *corev1.Pod) []*corev1.Container {
	out := make([]*corev1.Container, 0, len(pod.Spec.Containers)+len(pod.Spec.InitContainers))
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out = append(out, c)
		}
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

// evaluate runs the truth table and returns the first skipping rule's reason and message, or
// ReasonInjected and "".
func evaluate(in *input) (Reason, string) {
	for _, r := range Rules {
		if msg := r.skip(in); msg != "" {
			return r.Reason, msg
		}
	}
	return ReasonInjected, ""
}

// TruthTableMarkdown renders Rules as the Markdown table in docs/webhook.md (a test keeps the two
// equal).
func TruthTableMarkdown() string {
	var b strings.Builder
	b.WriteString("| # | the pod is skipped when | reason (Event and metric) |\n|---|---|---|\n")
	for i, r := range Rules {
		fmt.Fprintf(&b, "| %d | %s | `%s` |\n", i+1, r.Doc, r.Reason)
	}
	fmt.Fprintf(&b, "| — | none of the above: the sidecar is injected | `%s` (or `%s` when an override was bad) |\n",
		ReasonInjected, ReasonInjectedWithDefault)
	return b.String()
}

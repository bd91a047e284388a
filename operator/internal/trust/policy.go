package trust

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/pkg/names"
)

// ErrUntrusted wraps every answer that means "this pod is not a sidecar Elasti injected".
var ErrUntrusted = errors.New("not a trusted resolver sidecar")

// Reason names the first rule a pod failed.
type Reason string

// Reasons, in the order the rules are checked.
const (
	ReasonNotResolverPod      Reason = "NotResolverPod"
	ReasonNoSidecarContainer  Reason = "NoSidecarContainer"
	ReasonSystemNamespace     Reason = "SystemNamespace"
	ReasonNamespaceNotOptedIn Reason = "NamespaceNotOptedIn"
	ReasonUnexpectedImage     Reason = "UnexpectedImage"
)

// input is what the rules look at.
type input struct {
	pod     *corev1.Pod
	ns      *corev1.Namespace
	policy  *Policy
	sidecar *corev1.Container
}

// Rule is one row of the trust table: fail returns why the pod fails it, "" when it passes.
type Rule struct {
	Reason Reason
	// Doc is the row's text in docs/security.md.
	Doc  string
	fail func(in *input) string
}

// Rules is the trust table. A pod that passes every rule is trusted; the first failing rule is
// the reason given.
var Rules = []Rule{
	{ReasonNotResolverPod, "the pod has the label `elasti.dev/resolver=true`", failLabel},
	{ReasonNoSidecarContainer, "the pod has a container (native sidecar or regular) named `elasti-resolver`", failContainer},
	{ReasonSystemNamespace, "the pod's namespace is not kube-system, kube-public, kube-node-lease or Elasti's own (the webhook never injects there)", failSystemNamespace},
	{ReasonNamespaceNotOptedIn, "the pod's namespace is annotated `elasti.dev/inject: enabled` (only a cluster admin can annotate a Namespace)", failOptIn},
	{ReasonUnexpectedImage, "the `elasti-resolver` container runs the image the webhook injects: the repository of the operator's `--sidecar-image` (any tag or digest, so sidecars injected before an upgrade stay trusted), or exactly the image the pod's `elasti.dev/sidecar-image` override names", failImage},
}

// systemNamespaces are never trusted, whatever their annotations say (as in the webhook).
var systemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// Policy holds what the operator was told about the webhook's sidecar. Build it with NewPolicy.
type Policy struct {
	image           string
	repository      string
	systemNamespace string
}

// NewPolicy returns the policy for sidecarImage (the webhook's --sidecar-image, given to the
// operator as its own --sidecar-image) and Elasti's own namespace.
func NewPolicy(sidecarImage, systemNamespace string) (*Policy, error) {
	repo, ok := Repository(sidecarImage)
	if !ok {
		return nil, fmt.Errorf("sidecar image %q is not an image reference such as registry.example/elasti/sidecar:v1", sidecarImage)
	}
	if systemNamespace == "" {
		systemNamespace = names.SystemNamespace
	}
	return &Policy{image: sidecarImage, repository: repo, systemNamespace: systemNamespace}, nil
}

// Image returns the configured sidecar image.
func (p *Policy) Image() string { return p.image }

// Check returns nil when pod, in namespace ns, carries a sidecar Elasti's webhook injected, and
// otherwise an error wrapping ErrUntrusted that names the first rule it fails. A nil Policy
// trusts nothing.
func (p *Policy) Check(pod *corev1.Pod, ns *corev1.Namespace) error {
	if p == nil {
		return fmt.Errorf("%w: pod %s/%s: the operator has no sidecar policy", ErrUntrusted, pod.Namespace, pod.Name)
	}
	if reason, msg := p.evaluate(pod, ns); reason != "" {
		return &Error{Reason: reason, Pod: pod.Namespace + "/" + pod.Name, Message: msg}
	}
	return nil
}

func (p *Policy) evaluate(pod *corev1.Pod, ns *corev1.Namespace) (Reason, string) {
	in := &input{pod: pod, ns: ns, policy: p, sidecar: sidecarContainer(pod)}
	for _, r := range Rules {
		if msg := r.fail(in); msg != "" {
			return r.Reason, msg
		}
	}
	return "", ""
}

// Error says which rule a pod failed. It wraps ErrUntrusted.
type Error struct {
	Reason  Reason
	Pod     string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: pod %s: %s", ErrUntrusted, e.Pod, e.Message)
}

// Unwrap makes errors.Is(err, ErrUntrusted) true.
func (e *Error) Unwrap() error { return ErrUntrusted }

func failLabel(in *input) string {
	if in.pod.Labels[names.LabelResolver] != "true" {
		return fmt.Sprintf("label %s=true missing", names.LabelResolver)
	}
	return ""
}

func failContainer(in *input) string {
	if in.sidecar == nil {
		return fmt.Sprintf("no container named %s", names.SidecarContainerName)
	}
	return ""
}

func failSystemNamespace(in *input) string {
	if slices.Contains(systemNamespaces, in.pod.Namespace) || in.pod.Namespace == in.policy.systemNamespace {
		return fmt.Sprintf("namespace %s is a system namespace, where Elasti never injects sidecars", in.pod.Namespace)
	}
	return ""
}

func failOptIn(in *input) string {
	if in.ns == nil || in.ns.Name != in.pod.Namespace {
		return fmt.Sprintf("namespace %s not found", in.pod.Namespace)
	}
	if v := in.ns.Annotations[names.AnnotationInject]; v != names.InjectEnabled {
		return fmt.Sprintf("namespace %s has not opted in (annotation %s=%q, want %q)", in.ns.Name, names.AnnotationInject, v, names.InjectEnabled)
	}
	return ""
}

func failImage(in *input) string {
	img := in.sidecar.Image
	if repo, ok := Repository(img); ok && repo == in.policy.repository {
		return ""
	}
	if override, ok := in.pod.Annotations[names.AnnotationSidecarImage]; ok && override == img {
		return "" // the webhook injects the pod's own override
	}
	return fmt.Sprintf("container %s runs image %q, not the injected %s", names.SidecarContainerName, truncate(img, 128), in.policy.image)
}

// sidecarContainer returns the elasti-resolver container (init or regular), or nil.
func sidecarContainer(pod *corev1.Pod) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == names.SidecarContainerName {
				return &list[i]
			}
		}
	}
	return nil
}

// Repository returns the normalised repository of an image reference, without tag or digest:
// "elasti/sidecar:v1" and "docker.io/elasti/sidecar@sha256:…" are both
// "docker.io/elasti/sidecar". It reports false for something that is not a reference.
func Repository(image string) (string, bool) {
	ref, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i] // a tag (a ':' before the last '/' is a registry port)
	}
	if ref == "" || strings.ContainsAny(ref, " \t\n") || strings.HasSuffix(ref, "/") || strings.HasPrefix(ref, "/") {
		return "", false
	}
	first, rest, hasSlash := strings.Cut(ref, "/")
	if !hasSlash || !(strings.ContainsAny(first, ".:") || first == "localhost") {
		// No registry: Docker Hub, where single names live under library/.
		if !hasSlash {
			return "docker.io/library/" + strings.ToLower(ref), true
		}
		return "docker.io/" + strings.ToLower(ref), true
	}
	if first == "index.docker.io" || first == "registry-1.docker.io" {
		first = "docker.io"
	}
	if first == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	return strings.ToLower(first) + "/" + rest, true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Checker applies a Policy to pods, reading their namespaces (normally from the manager's cache).
type Checker struct {
	Policy *Policy
	// Namespaces reads Namespace objects.
	Namespaces client.Reader
}

// CheckPod reads pod's namespace and applies the policy. An error wrapping ErrUntrusted is the
// answer; any other error means the namespace could not be read.
func (c *Checker) CheckPod(ctx context.Context, pod *corev1.Pod) error {
	if c == nil {
		return (*Policy)(nil).Check(pod, nil)
	}
	ns, err := c.namespace(ctx, pod.Namespace)
	if err != nil {
		return err
	}
	return c.Policy.Check(pod, ns)
}

// Filter returns the pods that pass, reading each namespace once. Pods that fail are left out;
// an error reading a namespace is returned.
func (c *Checker) Filter(ctx context.Context, pods []corev1.Pod) ([]corev1.Pod, error) {
	if c == nil {
		return nil, nil // trusts nothing
	}
	nss := map[string]*corev1.Namespace{}
	out := make([]corev1.Pod, 0, len(pods))
	for i := range pods {
		ns, seen := nss[pods[i].Namespace]
		if !seen {
			var err error
			if ns, err = c.namespace(ctx, pods[i].Namespace); err != nil {
				return nil, err
			}
			nss[pods[i].Namespace] = ns
		}
		if c.Policy.Check(&pods[i], ns) == nil {
			out = append(out, pods[i])
		}
	}
	return out, nil
}

// namespace returns the namespace, or nil when it does not exist.
func (c *Checker) namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	if c.Namespaces == nil {
		return nil, nil
	}
	ns := &corev1.Namespace{}
	if err := c.Namespaces.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	return ns, nil
}

// TableMarkdown renders Rules as the table in docs/security.md (a test keeps the two equal).
func TableMarkdown() string {
	var b strings.Builder
	b.WriteString("| # | a trusted sidecar's pod | reason when not |\n|---|---|---|\n")
	for i, r := range Rules {
		fmt.Fprintf(&b, "| %d | %s | `%s` |\n", i+1, r.Doc, r.Reason)
	}
	return b.String()
}

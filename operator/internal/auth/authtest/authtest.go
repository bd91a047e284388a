// Package authtest creates what a real resolver sidecar has, for integration tests against an
// API server: a ServiceAccount, a pod carrying the injected sidecar, and a projected token bound
// to that pod with the Elasti audience (through the TokenRequest API, as the kubelet does).
package authtest

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/pkg/names"
)

// Image is the sidecar image of SidecarPod; give it to trust.NewPolicy.
const Image = "elasti/sidecar:test"

// OptedInNamespace returns a namespace (GenerateName prefix) opted in as a cluster admin does.
func OptedInNamespace(prefix string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix,
		Annotations: map[string]string{names.AnnotationInject: names.InjectEnabled}}}
}

// SidecarPod returns a gateway pod in namespace with the resolver label and the sidecar as a
// native sidecar (init container with restartPolicy Always), run as serviceAccount.
func SidecarPod(namespace, name, serviceAccount string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{names.LabelResolver: "true", "app": "gateway"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: serviceAccount,
			InitContainers: []corev1.Container{{
				Name: names.SidecarContainerName, Image: Image,
				RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
			}},
			Containers: []corev1.Container{{Name: "gateway", Image: "nginx"}},
		},
	}
}

// CreateSidecar creates the ServiceAccount (if missing) and pod, and returns the created pod.
func CreateSidecar(ctx context.Context, c client.Client, pod *corev1.Pod) (*corev1.Pod, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Spec.ServiceAccountName}}
	if err := c.Create(ctx, sa); client.IgnoreAlreadyExists(err) != nil {
		return nil, fmt.Errorf("creating ServiceAccount: %w", err)
	}
	if err := c.Create(ctx, pod); err != nil {
		return nil, fmt.Errorf("creating pod: %w", err)
	}
	return pod, nil
}

// Token requests a token for the pod's ServiceAccount, bound to the pod, with audience.
func Token(ctx context.Context, cfg *rest.Config, pod *corev1.Pod, audience string) (string, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", fmt.Errorf("creating clientset: %w", err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{audience},
			ExpirationSeconds: ptr.To[int64](names.SidecarTokenExpirySeconds),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return tr.Status.Token, nil
}

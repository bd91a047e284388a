package cacheopts

import (
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/operator/internal/acks"
	"github.com/elasti-dev/elasti/pkg/names"
)

// Options is the operator's cache configuration; namespace is Elasti's own (acknowledgement
// Leases).
func Options(namespace string) cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:           {Transform: TrimPod},
			&corev1.Namespace{}:     {Transform: TrimNamespace},
			&appsv1.Deployment{}:    {Transform: TrimWorkload},
			&appsv1.StatefulSet{}:   {Transform: TrimWorkload},
			&coordinationv1.Lease{}: acks.CacheByObject(namespace),
		},
	}
}

// meta keeps what every cached object needs: identity, version, deletion.
func meta(m *metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Generation: m.Generation, CreationTimestamp: m.CreationTimestamp,
		DeletionTimestamp: m.DeletionTimestamp, DeletionGracePeriodSeconds: m.DeletionGracePeriodSeconds,
	}
}

// TrimPod is the Pod transform (see the package doc). It is idempotent, and returns anything
// that is not a Pod unchanged.
func TrimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{TypeMeta: pod.TypeMeta, ObjectMeta: meta(&pod.ObjectMeta)}
	resolver, isResolver := pod.Labels[names.LabelResolver]
	if !isResolver {
		out.Spec.Containers = probeContainers(pod.Spec.Containers)
		return out, nil
	}
	out.Labels = map[string]string{names.LabelResolver: resolver}
	if img, ok := pod.Annotations[names.AnnotationSidecarImage]; ok {
		out.Annotations = map[string]string{names.AnnotationSidecarImage: img}
	}
	out.Spec.NodeName = pod.Spec.NodeName
	out.Spec.InitContainers = sidecarContainers(pod.Spec.InitContainers)
	out.Spec.Containers = sidecarContainers(pod.Spec.Containers)
	out.Status = corev1.PodStatus{
		Phase: pod.Status.Phase, PodIP: pod.Status.PodIP, PodIPs: pod.Status.PodIPs,
		InitContainerStatuses: readiness(pod.Status.InitContainerStatuses),
		ContainerStatuses:     readiness(pod.Status.ContainerStatuses),
	}
	return out, nil
}

// probeContainers keeps, of a target pod's containers, the name, the named ports (a probe may
// name a port of any container) and the readiness probe; a container with neither is dropped.
func probeContainers(cs []corev1.Container) []corev1.Container {
	var out []corev1.Container
	for i := range cs {
		c := corev1.Container{Name: cs[i].Name, ReadinessProbe: cs[i].ReadinessProbe}
		for _, p := range cs[i].Ports {
			if p.Name != "" {
				c.Ports = append(c.Ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.ContainerPort, Protocol: p.Protocol})
			}
		}
		if c.ReadinessProbe != nil || len(c.Ports) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// sidecarContainers keeps what the sidecar checks and slices read of a resolver pod's containers.
func sidecarContainers(cs []corev1.Container) []corev1.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i := range cs {
		out[i] = corev1.Container{Name: cs[i].Name, Image: cs[i].Image, Ports: cs[i].Ports,
			RestartPolicy: cs[i].RestartPolicy, ReadinessProbe: cs[i].ReadinessProbe}
	}
	return out
}

func readiness(ss []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(ss) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(ss))
	for i := range ss {
		out[i] = corev1.ContainerStatus{Name: ss[i].Name, Ready: ss[i].Ready}
	}
	return out
}

// TrimNamespace keeps a Namespace's identity and its opt-in annotation.
func TrimNamespace(obj any) (any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	out := &corev1.Namespace{TypeMeta: ns.TypeMeta, ObjectMeta: meta(&ns.ObjectMeta)}
	if v, ok := ns.Annotations[names.AnnotationInject]; ok {
		out.Annotations = map[string]string{names.AnnotationInject: v}
	}
	return out, nil
}

// TrimWorkload keeps a Deployment's or StatefulSet's identity, generation and spec.replicas:
// the controller only watches them (a change of generation is a scale by someone); replicas are
// read through /scale, never from the cache.
func TrimWorkload(obj any) (any, error) {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return &appsv1.Deployment{TypeMeta: w.TypeMeta, ObjectMeta: meta(&w.ObjectMeta),
			Spec: appsv1.DeploymentSpec{Replicas: w.Spec.Replicas}}, nil
	case *appsv1.StatefulSet:
		return &appsv1.StatefulSet{TypeMeta: w.TypeMeta, ObjectMeta: meta(&w.ObjectMeta),
			Spec: appsv1.StatefulSetSpec{Replicas: w.Spec.Replicas}}, nil
	}
	return obj, nil
}

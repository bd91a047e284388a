package cacheopts

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/elasti-dev/elasti/pkg/names"
)

func appPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders-1", UID: "u1", ResourceVersion: "42",
			Labels:        map[string]string{"app": "orders", "pod-template-hash": "abc"},
			Annotations:   map[string]string{"prometheus.io/scrape": "true"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{Name: "app", Image: "orders:1", Env: []corev1.EnvVar{{Name: "A", Value: "b"}},
					Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {ContainerPort: 9999}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("admin")}}}},
				{Name: "admin", Image: "admin:1", Ports: []corev1.ContainerPort{{Name: "admin", ContainerPort: 9000}}},
				{Name: "logs", Image: "fluent-bit:3"},
			},
			Volumes: []corev1.Volume{{Name: "config"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", Conditions: []corev1.PodCondition{{Type: corev1.PodReady}}},
	}
}

func TestTrimPodKeepsWhatTargetsNeed(t *testing.T) {
	p := appPod()
	now := metav1.Now()
	p.DeletionTimestamp = &now
	got, err := TrimPod(p)
	require.NoError(t, err)
	want := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders-1", UID: "u1", ResourceVersion: "42", DeletionTimestamp: &now},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}, ReadinessProbe: p.Spec.Containers[0].ReadinessProbe},
			{Name: "admin", Ports: []corev1.ContainerPort{{Name: "admin", ContainerPort: 9000}}},
		}},
	}
	assert.Equal(t, want, got)
	again, err := TrimPod(got)
	require.NoError(t, err)
	assert.Equal(t, got, again, "idempotent")
}

func TestTrimPodKeepsWhatSidecarsNeed(t *testing.T) {
	p := appPod()
	p.Labels[names.LabelResolver] = "true"
	p.Annotations[names.AnnotationSidecarImage] = "mirror/sidecar:1"
	p.Spec.NodeName = "node-a"
	p.Spec.InitContainers = []corev1.Container{{Name: names.SidecarContainerName, Image: "mirror/sidecar:1",
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Ports: []corev1.ContainerPort{{Name: names.PortNameProxy, ContainerPort: 8012}},
		Env: []corev1.EnvVar{{Name: "CA", Value: "-----BEGIN CERTIFICATE-----..."}}}}
	p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}}
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: names.SidecarContainerName, Ready: true, Image: "x", ImageID: "y"}}
	got, err := TrimPod(p)
	require.NoError(t, err)
	pod := got.(*corev1.Pod)
	assert.Equal(t, map[string]string{names.LabelResolver: "true"}, pod.Labels)
	assert.Equal(t, map[string]string{names.AnnotationSidecarImage: "mirror/sidecar:1"}, pod.Annotations)
	assert.Equal(t, "node-a", pod.Spec.NodeName)
	assert.Equal(t, []corev1.Container{{Name: names.SidecarContainerName, Image: "mirror/sidecar:1",
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Ports: []corev1.ContainerPort{{Name: names.PortNameProxy, ContainerPort: 8012}}}},
		pod.Spec.InitContainers)
	assert.Equal(t, corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: p.Status.PodIPs,
		InitContainerStatuses: []corev1.ContainerStatus{{Name: names.SidecarContainerName, Ready: true}}}, pod.Status)
	assert.Empty(t, pod.ManagedFields)
	again, err := TrimPod(got)
	require.NoError(t, err)
	assert.Equal(t, got, again, "idempotent")
}

func TestTrimmedPodIsSmall(t *testing.T) {
	full, _ := json.Marshal(appPod())
	trimmed, _ := TrimPod(appPod())
	small, _ := json.Marshal(trimmed)
	assert.Less(t, len(small), len(full)/2, "%s", small)
}

func TestTrimNamespaceAndWorkloads(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge", ResourceVersion: "1",
		Labels: map[string]string{"team": "a"}, Annotations: map[string]string{names.AnnotationInject: "enabled", "other": "x"}}}
	got, err := TrimNamespace(ns)
	require.NoError(t, err)
	assert.Equal(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge", ResourceVersion: "1",
		Annotations: map[string]string{names.AnnotationInject: "enabled"}}}, got)

	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders", Generation: 7},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0), Template: corev1.PodTemplateSpec{Spec: appPod().Spec}}}
	got, err = TrimWorkload(d)
	require.NoError(t, err)
	assert.Equal(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders", Generation: 7},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0)}}, got)
	s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Generation: 2}, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), ServiceName: "db"}}
	got, err = TrimWorkload(s)
	require.NoError(t, err)
	assert.Equal(t, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Generation: 2}, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3)}}, got)
}

func TestTransformsPassOtherObjectsThrough(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
	for _, f := range []func(any) (any, error){TrimPod, TrimNamespace, TrimWorkload} {
		got, err := f(svc)
		require.NoError(t, err)
		assert.Same(t, svc, got)
	}
}

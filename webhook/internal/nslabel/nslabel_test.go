package nslabel

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/webhook/internal/inject"
)

func namespace(name string, ann, lab map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann, Labels: lab}}
}

func TestMirror(t *testing.T) {
	enabled := map[string]string{names.AnnotationInject: names.InjectEnabled}
	tests := []struct {
		name      string
		ns        *corev1.Namespace
		wantLabel bool
	}{
		{"annotated gets the label", namespace("edge", enabled, nil), true},
		{"label kept", namespace("edge", enabled, map[string]string{names.LabelInject: names.InjectEnabled}), true},
		{"wrong label value fixed", namespace("edge", enabled, map[string]string{names.LabelInject: "yes"}), true},
		{"annotation removed drops the label", namespace("edge", nil, map[string]string{names.LabelInject: names.InjectEnabled}), false},
		{"disabled annotation", namespace("edge", map[string]string{names.AnnotationInject: "disabled"}, nil), false},
		{"kube-system never labelled", namespace("kube-system", enabled, nil), false},
		{"elasti-system never labelled", namespace(names.SystemNamespace, enabled, map[string]string{names.LabelInject: names.InjectEnabled}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithObjects(tt.ns).Build()
			m := &Mirror{Client: c, SystemNamespace: names.SystemNamespace}
			_, err := m.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: tt.ns.Name}})
			require.NoError(t, err)
			got := &corev1.Namespace{}
			require.NoError(t, c.Get(context.Background(), client.ObjectKey{Name: tt.ns.Name}, got))
			v, ok := got.Labels[names.LabelInject]
			assert.Equal(t, tt.wantLabel, ok)
			if tt.wantLabel {
				assert.Equal(t, names.InjectEnabled, v)
			}
		})
	}
}

func TestUninjected(t *testing.T) {
	ns := namespace("edge", map[string]string{names.AnnotationInject: names.InjectEnabled, names.AnnotationGatewaySelector: "app=gw"}, nil)
	gw := func(name string, ann map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "edge", Labels: map[string]string{"app": "gw"}, Annotations: ann},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "envoy"}}}}
	}
	injected := gw("injected", map[string]string{names.AnnotationSidecarStatus: `{"version":1}`})
	missing := gw("missing", nil)
	optedOut := gw("opted-out", map[string]string{names.AnnotationInject: names.InjectDisabled})
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "edge"}}
	c := fake.NewClientBuilder().WithObjects(ns, injected, missing, optedOut, other).Build()
	rec := events.NewFakeRecorder(10)
	gauge := uninjectedPods
	u := &Uninjected{Client: c, Config: inject.DefaultConfig, Events: rec}
	for _, p := range []*corev1.Pod{injected, missing, optedOut, other, missing} {
		_, err := u.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(p)})
		require.NoError(t, err)
	}
	assert.Equal(t, 1.0, testutil.ToFloat64(gauge))
	require.Len(t, rec.Events, 1, "one Event per flagged pod, not per reconcile")
	assert.Contains(t, <-rec.Events, ReasonSidecarMissing)

	require.NoError(t, c.Delete(context.Background(), missing))
	_, err := u.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(missing)})
	require.NoError(t, err)
	assert.Equal(t, 0.0, testutil.ToFloat64(gauge))
}

func TestTrimPodKeepsWhatTheTruthTableReads(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"c": "d"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}}},
		Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "c", Image: "i", Env: []corev1.EnvVar{{Name: "E"}},
			Ports: []corev1.ContainerPort{{ContainerPort: 1}}}}, Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
	}
	out, err := TrimPod(pod)
	require.NoError(t, err)
	got := out.(*corev1.Pod)
	assert.Equal(t, pod.Labels, got.Labels)
	assert.Equal(t, pod.Annotations, got.Annotations)
	assert.True(t, got.Spec.HostNetwork)
	assert.Equal(t, []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{ContainerPort: 1}}}}, got.Spec.Containers)
	assert.Equal(t, []corev1.Volume{{Name: "v"}}, got.Spec.Volumes)
	assert.Empty(t, got.ManagedFields)
}

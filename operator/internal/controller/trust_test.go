package controller

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/operator/internal/cacheopts"
	"github.com/elasti-dev/elasti/operator/internal/trust"
	"github.com/elasti-dev/elasti/pkg/names"
)

// testSidecarImage is the image the tests' trust policy expects.
const testSidecarImage = "elasti/sidecar:test"

func testTrust(t testing.TB, c client.Reader) *trust.Checker {
	t.Helper()
	p, err := trust.NewPolicy(testSidecarImage, names.SystemNamespace)
	require.NoError(t, err)
	return &trust.Checker{Policy: p, Namespaces: c}
}

func inNamespace(p corev1.Pod, ns string) *corev1.Pod {
	p.Namespace = ns
	for i := range p.Spec.InitContainers {
		p.Spec.InitContainers[i].Image = testSidecarImage
	}
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == names.SidecarContainerName {
			p.Spec.Containers[i].Image = testSidecarImage
		}
	}
	return &p
}

// TestListSidecarsTrustsOnlyOptedInNamespaces: a pod with the resolver label and container, in a
// namespace that did not opt in, never becomes a slice endpoint (issue 12).
func TestListSidecarsTrustsOnlyOptedInNamespaces(t *testing.T) {
	edge := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge", Annotations: map[string]string{names.AnnotationInject: names.InjectEnabled}}}
	plain := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain"}}
	good := inNamespace(sidecarPod("gw", []string{"10.0.0.1"}, true, true, 0), "edge")
	forged := inNamespace(sidecarPod("forged", []string{"10.0.0.2"}, true, true, 0), "plain")
	system := inNamespace(sidecarPod("sys", []string{"10.0.0.3"}, true, true, 0), "kube-system")
	foreign := inNamespace(sidecarPod("foreign", []string{"10.0.0.4"}, true, false, 0), "edge")
	foreign.Spec.Containers[1].Image = "attacker.example/sidecar:test"
	c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(edge, plain, good, forged, system, foreign).Build()

	r := &Reconciler{Client: c, Trust: testTrust(t, c)}
	got, err := r.listSidecars(context.Background())
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "edge/gw", got[0].Pod.String())

	untrusting := &Reconciler{Client: c}
	got, err = untrusting.listSidecars(context.Background())
	require.NoError(t, err)
	assert.Empty(t, got, "without a policy no sidecar is trusted")
}

func TestOptInChangedPredicate(t *testing.T) {
	on := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge", Annotations: map[string]string{names.AnnotationInject: names.InjectEnabled}}}
	off := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge"}}
	relabelled := on.DeepCopy()
	relabelled.Labels = map[string]string{"team": "a"}
	p := optInChanged()
	assert.True(t, p.Update(updateEvent(on, off)))
	assert.True(t, p.Update(updateEvent(off, on)))
	assert.False(t, p.Update(updateEvent(on, relabelled)))
}

func TestSidecarChangedOnImage(t *testing.T) {
	pod := sidecarPod("gw", []string{"10.0.0.1"}, true, true, 0)
	swapped := *pod.DeepCopy()
	swapped.Spec.InitContainers[0].Image = "attacker.example/sidecar:test"
	assert.True(t, sidecarChanged().Update(updateEvent(&pod, &swapped)), "the image decides trust; it is mutable on a running pod")
}

// TestTrimmedSidecarPodsDecideTheSame: the cache stores pods trimmed by cacheopts.TrimPod; what
// the controller and the trust policy decide from a trimmed pod must be what they decide from
// the whole pod.
func TestTrimmedSidecarPodsDecideTheSame(t *testing.T) {
	p, err := trust.NewPolicy(testSidecarImage, names.SystemNamespace)
	require.NoError(t, err)
	edge := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge", Annotations: map[string]string{names.AnnotationInject: names.InjectEnabled}}}
	terminating := sidecarPod("t", []string{"10.0.0.3"}, true, true, 9000)
	terminating.DeletionTimestamp = &metav1.Time{}
	foreign := inNamespace(sidecarPod("f", []string{"10.0.0.4"}, true, false, 0), "edge")
	foreign.Spec.Containers[1].Image = "attacker.example/x:1"
	override := inNamespace(sidecarPod("o", []string{"10.0.0.5"}, true, true, 0), "edge")
	override.Annotations = map[string]string{names.AnnotationSidecarImage: "mirror/s:1"}
	override.Spec.InitContainers[0].Image = "mirror/s:1"
	failed := sidecarPod("done", []string{"10.0.0.6"}, false, true, 0)
	failed.Status.Phase = corev1.PodFailed
	for _, pod := range []*corev1.Pod{
		inNamespace(sidecarPod("native", []string{"10.0.0.1", "fd00::1"}, true, true, 0), "edge"),
		inNamespace(sidecarPod("regular", []string{"10.0.0.2"}, false, false, 9100), "edge"),
		inNamespace(terminating, "edge"), foreign, override, inNamespace(failed, "edge"),
		inNamespace(sidecarPod("noip", nil, true, true, 0), "edge"),
	} {
		t.Run(pod.Name, func(t *testing.T) {
			obj, err := cacheopts.TrimPod(pod.DeepCopy())
			require.NoError(t, err)
			trimmed := obj.(*corev1.Pod)
			want, wantOK := sidecarFromPod(pod)
			got, gotOK := sidecarFromPod(trimmed)
			assert.Equal(t, wantOK, gotOK)
			assert.Equal(t, want, got)
			assert.Equal(t, p.Check(pod, edge) == nil, p.Check(trimmed, edge) == nil)
			assert.Equal(t, trustInputs(pod), trustInputs(trimmed))
			assert.Equal(t, pod.Labels[names.LabelResolver], trimmed.Labels[names.LabelResolver])
		})
	}
}

package inject

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/elasti-dev/elasti/pkg/names"
)

// TestRulesOrder pins the precedence of the truth table: a pod that several rules would skip is
// reported with the first one, so the reason a user sees is the most fundamental.
func TestRulesOrder(t *testing.T) {
	enabled := map[string]string{names.AnnotationInject: names.InjectEnabled}
	tests := []struct {
		name string
		ns   string
		nsAn map[string]string
		pod  corev1.Pod
		want Reason
	}{
		{"system namespace wins over everything", "kube-system", enabled,
			corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true}}, ReasonSystemNamespace},
		{"opt-out wins over hostNetwork", "edge", enabled,
			corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{names.AnnotationInject: names.InjectDisabled}},
				Spec: corev1.PodSpec{HostNetwork: true}}, ReasonPodOptedOut},
		{"disabled namespace", "edge", map[string]string{names.AnnotationInject: "disabled"},
			corev1.Pod{}, ReasonNamespaceNotEnabled},
		{"hostNetwork gateway", "edge", enabled,
			corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{names.AnnotationGateway: "true"}},
				Spec: corev1.PodSpec{HostNetwork: true}}, ReasonHostNetwork},
		{"gateway annotation must be exactly true", "edge", enabled,
			corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{names.AnnotationGateway: "yes"}}}, ReasonNotGateway},
		{"plain init container port does not clash", "edge", enabled,
			corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{names.AnnotationGateway: "true"}},
				Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "init", Ports: []corev1.ContainerPort{{ContainerPort: 8012}}}}}},
			ReasonInjected},
		{"foreign elasti-token volume", "edge", enabled,
			corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{names.AnnotationGateway: "true"}},
				Spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: names.SidecarTokenVolume}}}}, ReasonAlreadyInjected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tt.ns, Annotations: tt.nsAn}}
			res := Mutate(&tt.pod, ns, &cfg)
			assert.Equal(t, tt.want, res.Reason, res.Message)
		})
	}
}

func TestMutateDoesNotModifyInput(t *testing.T) {
	cfg := testConfig()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "edge", Annotations: map[string]string{names.AnnotationInject: names.InjectEnabled}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{names.AnnotationGateway: "true"}}}
	before := pod.DeepCopy()
	res := Mutate(pod, ns, &cfg)
	assert.True(t, res.Injected)
	assert.Equal(t, before, pod)
}

func TestEveryRuleIsDocumented(t *testing.T) {
	for _, r := range Rules {
		assert.NotEmpty(t, r.Doc, r.Reason)
		assert.Contains(t, AllReasons, r.Reason)
	}
}

func TestDocsTruthTable(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "webhook.md"))
	if err != nil {
		t.Fatalf("reading docs/webhook.md: %v", err)
	}
	assert.Contains(t, string(doc), TruthTableMarkdown(), "docs/webhook.md must contain the truth table rendered from Rules:\n%s", TruthTableMarkdown())
}

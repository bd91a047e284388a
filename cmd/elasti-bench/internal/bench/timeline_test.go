package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTimelineKeepsFirstSightOfEachMilestone(t *testing.T) {
	tl := &timeline{by: map[string]*milestones{}, end: func() {}}
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	one, zero := int32(1), int32(0)
	dep := func(r *int32) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: appsv1.DeploymentSpec{Replicas: r}}
	}
	pod := func(node string, running bool, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a-1", Labels: map[string]string{"app": "a"}}, Spec: corev1.PodSpec{NodeName: node}}
		if running {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{Time: t0}
		}
		return p
	}
	tl.observe(dep(&zero), at(5))                                             // still at zero: not scaled
	tl.observe(pod("node", true, true), at(6))                                // an old pod going away: ignored
	tl.observe(dep(&one), at(10))                                             // scaled
	tl.observe(dep(&one), at(15))                                             // a later status update: the first sight stays
	tl.observe(pod("", false, false), at(20))                                 // created
	tl.observe(pod("node", false, false), at(30))                             // scheduled
	tl.observe(pod("node", true, false), at(45))                              // running
	tl.observe(pod("node", true, false), at(50))                              // ready, say: nothing new
	tl.observe(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "gw"}}, at(1)) // no app label: ignored

	got := tl.stop()
	require.Len(t, got, 1)
	assert.Equal(t, milestones{scaled: at(10), created: at(20), scheduled: at(30), running: at(45)}, got["a"])

	s := ColdSample{sent: t0, readyAt: at(1045), ReadinessSource: "log"}
	s.addSteps(got["a"])
	assert.Equal(t, map[string]float64{StepScale: 10, StepCreate: 10, StepSchedule: 10, StepStart: 15, StepAppStart: 1000}, s.Steps)

	cs := summarizeCold(1, []ColdSample{withTimes(s)})
	assert.Equal(t, 10.0, cs.Steps[StepScale].P50)
	assert.Equal(t, 1000.0, cs.Steps[StepAppStart].Max)
}

func TestStepsLeaveOutWhatWasNotSeenOrIsOutOfOrder(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	// The pod was seen before the scale (cannot be: the watch started late) and never ran.
	s := ColdSample{sent: t0, readyAt: t0.Add(2 * time.Second), ReadinessSource: "log"}
	s.addSteps(milestones{scaled: t0.Add(300 * time.Millisecond), created: t0.Add(100 * time.Millisecond)})
	assert.Equal(t, map[string]float64{StepScale: 300}, s.Steps)

	// Readiness from the Ready condition has one-second resolution: no split at all.
	s = ColdSample{sent: t0, readyAt: t0.Add(2 * time.Second), ReadinessSource: "pod-ready"}
	s.addSteps(milestones{scaled: t0.Add(time.Millisecond)})
	assert.Nil(t, s.Steps)
}

// withTimes fills in the durations wake would have measured, so summarizeCold counts the sample.
func withTimes(s ColdSample) ColdSample {
	s.Status, s.total, s.ready = 200, s.readyAt.Sub(s.sent)+20*time.Millisecond, s.readyAt.Sub(s.sent)
	return s
}

package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
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
	withIP := pod("node", true, false)
	withIP.Status.PodIP = "10.244.0.9"
	tl.observe(withIP, at(1100))       // the kubelet published the IP after the app listened
	tl.observe(slice(true), at(1090))  // a terminating endpoint: not listed
	tl.observe(slice(false), at(1130)) // listed

	got := tl.stop()
	require.Len(t, got, 1)
	assert.Equal(t, milestones{scaled: at(10), created: at(20), scheduled: at(30), running: at(45), ip: at(1100), listed: at(1130)}, got["a"])

	s := ColdSample{sent: t0, readyAt: at(1045), done: at(1150), ReadinessSource: "log"}
	s.addSteps(got["a"])
	assert.Equal(t, map[string]float64{StepScale: 10, StepCreate: 10, StepSchedule: 10, StepStart: 15, StepAppStart: 1000,
		StepIP: 55, StepListed: 30, StepElasti: 20}, s.Steps)

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

	// The IP was out before the app listened: that step took nothing of the overhead.
	s = ColdSample{sent: t0, readyAt: t0.Add(time.Second), done: t0.Add(1100 * time.Millisecond), ReadinessSource: "log"}
	s.addSteps(milestones{ip: t0.Add(500 * time.Millisecond), listed: t0.Add(1040 * time.Millisecond)})
	assert.Equal(t, map[string]float64{StepIP: 0, StepListed: 40, StepElasti: 60}, s.Steps)

	// Readiness from the Ready condition has one-second resolution: no split at all.
	s = ColdSample{sent: t0, readyAt: t0.Add(2 * time.Second), ReadinessSource: "pod-ready"}
	s.addSteps(milestones{scaled: t0.Add(time.Millisecond)})
	assert.Nil(t, s.Steps)
}

func slice(terminating bool) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "a-x", Labels: map[string]string{discoveryv1.LabelServiceName: "a"}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.9"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "a-1"},
			Conditions: discoveryv1.EndpointConditions{Terminating: &terminating}}},
	}
}

// withTimes fills in the durations wake would have measured, so summarizeCold counts the sample.
func withTimes(s ColdSample) ColdSample {
	s.Status, s.total, s.ready = 200, s.readyAt.Sub(s.sent)+20*time.Millisecond, s.readyAt.Sub(s.sent)
	return s
}

func TestMarkdownNamesWhereTheTimeWent(t *testing.T) {
	d := func(p50 float64) Dist { return Dist{N: 2, P50: p50, P95: p50 * 2, P99: p50 * 2, Max: p50 * 2} }
	r := &Report{Options: Options{StartupDelay: time.Second}, Machine: Machine{Cores: 2}}
	r.ColdStartN = ColdStart{Services: 25, Total: d(6000), AppReady: d(5800), Overhead: d(200), Steps: map[string]Dist{
		StepScale: d(190), StepCreate: d(500), StepSchedule: d(50), StepStart: d(4000), StepAppStart: d(600),
		StepIP: d(120), StepListed: d(20), StepElasti: d(30),
	}}
	var sb strings.Builder
	r.Markdown(&sb)
	md := sb.String()
	assert.Contains(t, md, "| &nbsp;&nbsp;&nbsp;&nbsp;scheduled → app container running (kubelet) | 2 | 4000.0 |")
	assert.Contains(t, md, "the longest at p95: scheduled → app container running (kubelet).")
	assert.Contains(t, md, "the longest at p95: listening → pod IP published (kubelet).") // 120 of the 170 ms after readiness
	assert.Contains(t, md, "request → Deployment scaled 190 ms p50 / 380 ms p95")
}

func TestBusyPercentFromProcStat(t *testing.T) {
	from, err := parseCPUTimes("cpu  100 0 100 700 100 0 0 0 50 0\ncpu0 1 2 3\n")
	require.NoError(t, err)
	to, err := parseCPUTimes("cpu  250 0 150 900 100 0 0 0 80 0\n")
	require.NoError(t, err)
	// 400 more jiffies, 200 of them idle: half busy; guest time is not counted twice.
	assert.Equal(t, 50.0, busyPercent(from, to))
	assert.Equal(t, 0.0, busyPercent(to, from))
	_, err = parseCPUTimes("intr 1 2 3\n")
	assert.ErrorContains(t, err, "unexpected /proc/stat first line")
}

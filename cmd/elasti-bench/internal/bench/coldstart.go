package bench

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// ColdSample is one request that woke a Service from zero.
type ColdSample struct {
	Service string `json:"service"`
	Pod     string `json:"pod"`
	Status  int    `json:"status"`
	Error   string `json:"error,omitempty"`
	// TotalMs: request sent → response read. HeldMs: the sidecar's Server-Timing.
	TotalMs float64 `json:"totalMs"`
	HeldMs  float64 `json:"heldMs"`
	// AppReadyMs: request sent → the app's readiness; OverheadMs: readiness → response read.
	AppReadyMs float64 `json:"appReadyMs"`
	OverheadMs float64 `json:"overheadMs"`
	// ReadinessSource: ReadinessLog (the app's "listening" line), ReadinessPodReady (the fallback:
	// the pod's Ready condition, 1 s resolution) or "" (neither was found).
	ReadinessSource string `json:"readinessSource"`
	// Steps: where the time until readiness went, from the bench's own watches (see Step*).
	Steps map[string]float64 `json:"stepsMs,omitempty"`

	sent, readyAt, done          time.Time
	total, held, ready, overhead time.Duration
	steps                        map[string]time.Duration
}

// The steps of a wake-up, in order; each is the time from the previous milestone to its own.
const (
	StepScale    = "request → Deployment scaled (Elasti)"
	StepCreate   = "scaled → pod created (controller-manager)"
	StepSchedule = "created → pod scheduled (scheduler)"
	StepStart    = "scheduled → app container running (kubelet)"
	StepAppStart = "running → app listening (the app)"

	// The overhead above readiness, split the same way: nobody can reach the pod before the
	// kubelet publishes its IP, and the operator streams it once an EndpointSlice lists it.
	StepIP     = "listening → pod IP published (kubelet)"
	StepListed = "→ IP listed in an EndpointSlice (controller-manager)"
	StepElasti = "→ response read (Elasti)"
)

// Steps lists the step names until readiness in the order they happen; OverheadSteps those after.
var (
	Steps         = []string{StepScale, StepCreate, StepSchedule, StepStart, StepAppStart}
	OverheadSteps = []string{StepIP, StepListed, StepElasti}
)

// addSteps splits the sample's time until readiness by the milestones seen for its app. A step is
// left out when either end was not seen or the clock order is off (the log time is the kubelet's).
func (s *ColdSample) addSteps(m milestones) {
	if s.readyAt.IsZero() || s.ReadinessSource != ReadinessLog {
		return
	}
	marks := []time.Time{s.sent, m.scaled, m.created, m.scheduled, m.running, s.readyAt}
	s.steps, s.Steps = map[string]time.Duration{}, map[string]float64{}
	for i, name := range Steps {
		from, to := marks[i], marks[i+1]
		if from.IsZero() || to.IsZero() || to.Before(from) {
			continue
		}
		s.steps[name], s.Steps[name] = to.Sub(from), ms(to.Sub(from))
	}
	if m.ip.IsZero() || m.listed.IsZero() || s.done.IsZero() {
		return
	}
	// Each mark is the later of itself and the one before: a step that was over before the
	// previous one ended took no time of its own.
	ipAt := latest(s.readyAt, m.ip)
	listedAt := latest(ipAt, m.listed)
	for _, st := range []struct {
		name     string
		from, to time.Time
	}{{StepIP, s.readyAt, ipAt}, {StepListed, ipAt, listedAt}, {StepElasti, listedAt, s.done}} {
		if !st.to.Before(st.from) {
			s.steps[st.name], s.Steps[st.name] = st.to.Sub(st.from), ms(st.to.Sub(st.from))
		}
	}
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// ColdStart summarises samples.
type ColdStart struct {
	Services int          `json:"services"`
	Samples  []ColdSample `json:"samples"`
	Failed   int          `json:"failed"`
	Total    Dist         `json:"total"`
	Held     Dist         `json:"held"`
	AppReady Dist         `json:"appReady"`
	Overhead Dist         `json:"overhead"`
	// Steps: the time until readiness split by milestone, keyed by the Step* names.
	Steps map[string]Dist `json:"steps"`
	// CPUBusyPct: how busy this machine's CPUs were during the rounds (0 if /proc/stat is unreadable).
	CPUBusyPct float64 `json:"cpuBusyPercent,omitempty"`
}

func summarizeCold(services int, samples []ColdSample) ColdStart {
	cs := ColdStart{Services: services, Samples: samples}
	var total, held, ready, over []time.Duration
	steps := map[string][]time.Duration{}
	for _, s := range samples {
		if s.Error != "" || s.Status != http.StatusOK {
			cs.Failed++
			continue
		}
		total, held = append(total, s.total), append(held, s.held)
		if s.ReadinessSource != "" {
			ready, over = append(ready, s.ready), append(over, s.overhead)
		}
		for name, d := range s.steps {
			steps[name] = append(steps[name], d)
		}
	}
	cs.Steps = map[string]Dist{}
	for name, ds := range steps {
		cs.Steps[name] = Summarize(ds)
	}
	cs.Total, cs.Held, cs.AppReady, cs.Overhead = Summarize(total), Summarize(held), Summarize(ready), Summarize(over)
	return cs
}

var podInBody = regexp.MustCompile(`\(pod ([a-z0-9.-]+)\)`)

// wake sends one request through the gateway to an app at zero and measures it.
func (b *bencher) wake(ctx context.Context, app *framework.App, v via) ColdSample {
	s := ColdSample{Service: app.Name}
	c, url := b.fresh, framework.ServiceURL(app.NS.Name, app.Name, 0, "/")
	if v == viaTraefik {
		c, url = b.traefik.Client(false), "http://"+ingressHost(app)+"/"
	}
	sent := time.Now()
	s.sent = sent
	r, err := framework.Get(ctx, c, url)
	done := time.Now()
	s.done = done
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Status, s.total, s.held = r.Status, done.Sub(sent), framework.HeldFor(r.Header)
	s.TotalMs, s.HeldMs = ms(s.total), ms(s.held)
	if m := podInBody.FindStringSubmatch(r.Body); m != nil {
		s.Pod = m[1]
	}
	if s.Status != http.StatusOK || s.Pod == "" {
		s.Error = fmt.Sprintf("status %d body %.200q", r.Status, r.Body)
		return s
	}
	readyAt, source := b.readiness(ctx, app.NS.Name, s.Pod)
	if source != "" {
		s.ready, s.overhead, s.ReadinessSource, s.readyAt = readyAt.Sub(sent), done.Sub(readyAt), source, readyAt
		s.AppReadyMs, s.OverheadMs = ms(s.ready), ms(s.overhead)
	}
	return s
}

// readiness is when the pod's app could first answer: its "listening" log line, else its Ready
// condition.
func (b *bencher) readiness(ctx context.Context, ns, pod string) (time.Time, string) {
	raw, err := b.env.Kube.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: "app", Timestamps: true}).DoRaw(ctx)
	if err == nil {
		if t, ok := FirstLineTime(string(raw), ListeningMarker); ok {
			return t, ReadinessLog
		}
	}
	p, err := b.env.Kube.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return time.Time{}, ""
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time, ReadinessPodReady
		}
	}
	return time.Time{}, ""
}

// toZero scales the apps to zero by hand and waits until each is in proxy mode with no pod left.
func (b *bencher) toZero(ctx context.Context, apps []*framework.App) error {
	for _, a := range apps {
		if err := a.SetReplicas(ctx, 0); err != nil {
			return err
		}
	}
	return forEach(apps, func(a *framework.App) error {
		if _, err := a.WaitState(ctx, 90*time.Second, "proxy mode at zero", framework.AtZeroInProxyMode); err != nil {
			return err
		}
		return framework.Poll(ctx, 90*time.Second, 200*time.Millisecond, a.Name+" pods gone", func(ctx context.Context) (bool, string, error) {
			pods, err := b.env.PodsBySelector(ctx, a.NS.Name, "app="+a.Name)
			return len(pods) == 0, fmt.Sprintf("%d pods", len(pods)), err
		})
	})
}

// waitServe waits until every app is back in serve mode.
func waitServe(ctx context.Context, apps []*framework.App) error {
	return forEach(apps, func(a *framework.App) error {
		_, err := a.WaitState(ctx, 90*time.Second, "serve mode", framework.InServeMode)
		return err
	})
}

// via is the way a wake-up request reaches the Service.
type via int

const (
	// viaGateway: the demo gateway, with the Service's in-cluster name.
	viaGateway via = iota
	// viaTraefik: Traefik, an ingress controller that reads the EndpointSlices and connects to the
	// endpoints itself, with an external Host.
	viaTraefik
)

// coldStarts runs rounds of waking all apps at once through the gateway.
func (b *bencher) coldStarts(ctx context.Context, apps []*framework.App, rounds int) (ColdStart, error) {
	return b.coldStartsVia(ctx, apps, rounds, viaGateway)
}

// waitTraefikOnSidecars waits until Traefik sends the app's host to the sidecars only (each at
// the sidecar port allocated to the Service port), as it must before a request at zero.
func (b *bencher) waitTraefikOnSidecars(ctx context.Context, app *framework.App) error {
	es, err := app.GetElastiService(ctx)
	if err != nil {
		return err
	}
	port, ok := es.Status.SidecarPortFor("http")
	if !ok {
		return fmt.Errorf("%s has no sidecar port for Service port http", app.Name)
	}
	suffix := fmt.Sprintf(":%d", port)
	_, err = b.traefik.WaitServers(ctx, app.NS.Name, app.Name, "http", "the sidecars at port "+suffix, func(servers []string) bool {
		for _, s := range servers {
			if !strings.HasSuffix(s, suffix) {
				return false
			}
		}
		return len(servers) > 0
	})
	return err
}

// coldStartsVia runs rounds of waking all apps at once, through v.
func (b *bencher) coldStartsVia(ctx context.Context, apps []*framework.App, rounds int, v via) (ColdStart, error) {
	var samples []ColdSample
	var busy cpuTimes // summed over the rounds
	for round := range rounds {
		if err := b.toZero(ctx, apps); err != nil {
			return ColdStart{}, fmt.Errorf("round %d: %w", round+1, err)
		}
		if v == viaTraefik {
			if err := forEach(apps, func(a *framework.App) error { return b.waitTraefikOnSidecars(ctx, a) }); err != nil {
				return ColdStart{}, fmt.Errorf("round %d: %w", round+1, err)
			}
		}
		tl, err := watchTimeline(ctx, b.env.Kube, b.ns.Name)
		if err != nil {
			return ColdStart{}, fmt.Errorf("round %d: watching the wake-ups: %w", round+1, err)
		}
		var mu sync.Mutex
		var got []ColdSample
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, a := range apps {
			wg.Go(func() {
				<-start
				s := b.wake(ctx, a, v)
				mu.Lock()
				got = append(got, s)
				mu.Unlock()
			})
		}
		cpuFrom, cpuErr := readCPUTimes()
		close(start)
		wg.Wait()
		if cpuTo, err := readCPUTimes(); cpuErr == nil && err == nil {
			busy.total, busy.idle = busy.total+cpuTo.total-cpuFrom.total, busy.idle+cpuTo.idle-cpuFrom.idle
		}
		seen := tl.stop()
		for _, s := range got {
			s.addSteps(seen[s.Service])
			samples = append(samples, s)
		}
		b.logf("cold start round %d/%d of %d service(s) done", round+1, rounds, len(apps))
		if err := waitServe(ctx, apps); err != nil {
			return ColdStart{}, fmt.Errorf("round %d: %w", round+1, err)
		}
	}
	cs := summarizeCold(len(apps), samples)
	cs.CPUBusyPct = busyPercent(cpuTimes{}, busy)
	return cs, nil
}

// forEach runs f for every app concurrently and returns the first error.
func forEach(apps []*framework.App, f func(*framework.App) error) error {
	errs := make(chan error, len(apps))
	var wg sync.WaitGroup
	for _, a := range apps {
		wg.Go(func() { errs <- f(a) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

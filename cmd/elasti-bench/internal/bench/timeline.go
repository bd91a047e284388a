package bench

import (
	"context"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// Milestones of one wake-up, each the moment the bench first saw it through a watch (not the API
// server's one-second timestamps). A zero time means it was not seen.
type milestones struct {
	scaled    time.Time // the Deployment's spec.replicas went above zero: Elasti's scale-up landed
	created   time.Time // the first pod of the app appeared: the controller-manager's part
	scheduled time.Time // that pod got a node: the scheduler's part
	running   time.Time // its app container runs: the kubelet and the container runtime's part
	ip        time.Time // the kubelet published the pod's IP: nobody can reach the pod before
	listed    time.Time // an EndpointSlice of the Service lists that IP: what the operator streams
}

// timeline watches one namespace's Deployments and pods during a round of wake-ups and records,
// per app (label app=<name>), when each milestone was first seen.
type timeline struct {
	mu  sync.Mutex
	by  map[string]*milestones
	wg  sync.WaitGroup
	end context.CancelFunc
}

// watchTimeline starts the watches; stop ends them. Only changes after the call are recorded, so
// call it once the apps are at zero with no pod left.
func watchTimeline(ctx context.Context, kube kubernetes.Interface, ns string) (*timeline, error) {
	deps, err := kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	slices, err := kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	dw, err := kube.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: deps.ResourceVersion})
	if err != nil {
		cancel()
		return nil, err
	}
	pw, err := kube.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: pods.ResourceVersion})
	if err != nil {
		dw.Stop()
		cancel()
		return nil, err
	}
	sw, err := kube.DiscoveryV1().EndpointSlices(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: slices.ResourceVersion})
	if err != nil {
		dw.Stop()
		pw.Stop()
		cancel()
		return nil, err
	}
	t := &timeline{by: map[string]*milestones{}, end: cancel}
	for _, w := range []watch.Interface{dw, pw, sw} {
		t.wg.Go(func() { t.consume(ctx, w) })
	}
	return t, nil
}

func (t *timeline) consume(ctx context.Context, w watch.Interface) {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			if ev.Type == watch.Added || ev.Type == watch.Modified {
				t.observe(ev.Object, time.Now())
			}
		}
	}
}

// observe records the milestones an object shows, keeping the first time each was seen.
func (t *timeline) observe(obj any, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	first := func(app string) *milestones {
		m := t.by[app]
		if m == nil {
			m = &milestones{}
			t.by[app] = m
		}
		return m
	}
	set := func(field *time.Time) {
		if field.IsZero() {
			*field = at
		}
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		if o.Spec.Replicas != nil && *o.Spec.Replicas > 0 {
			set(&first(o.Name).scaled)
		}
	case *corev1.Pod:
		app := o.Labels["app"]
		if app == "" || o.DeletionTimestamp != nil {
			return
		}
		m := first(app)
		set(&m.created)
		if o.Spec.NodeName != "" {
			set(&m.scheduled)
		}
		for _, c := range o.Status.ContainerStatuses {
			if c.Name == "app" && c.State.Running != nil {
				set(&m.running)
			}
		}
		if o.Status.PodIP != "" {
			set(&m.ip)
		}
	case *discoveryv1.EndpointSlice:
		// The bench names each Service after its app.
		app := o.Labels[discoveryv1.LabelServiceName]
		for _, ep := range o.Endpoints {
			if app != "" && len(ep.Addresses) > 0 && ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" &&
				(ep.Conditions.Terminating == nil || !*ep.Conditions.Terminating) {
				set(&first(app).listed)
			}
		}
	}
}

// stop ends the watches and returns what was seen, by app.
func (t *timeline) stop() map[string]milestones {
	t.end()
	t.wg.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]milestones, len(t.by))
	for k, v := range t.by {
		out[k] = *v
	}
	return out
}

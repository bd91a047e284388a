//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// sliceWatch records, from a watch on a Service's EndpointSlices, every interval during which no
// slice had a ready endpoint: a client of the ClusterIP is refused then. It explains failed
// requests in the mode-switch scenarios.
type sliceWatch struct {
	mu     sync.Mutex
	slices map[string]*discoveryv1.EndpointSlice
	gaps   []string
	since  time.Time // start of the current gap (zero when something is ready)
	cancel context.CancelFunc
	done   chan struct{}
}

func watchSlices(ctx context.Context, ns, svc string) (*sliceWatch, error) {
	w, err := env.Kube.DiscoveryV1().EndpointSlices(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc})
	if err != nil {
		return nil, fmt.Errorf("watching slices of %s: %w", svc, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	sw := &sliceWatch{slices: map[string]*discoveryv1.EndpointSlice{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(sw.done)
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					return
				}
				sw.apply(ev)
			}
		}
	}()
	return sw, nil
}

func (sw *sliceWatch) apply(ev watch.Event) {
	s, ok := ev.Object.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if ev.Type == watch.Deleted {
		delete(sw.slices, s.Name)
	} else {
		sw.slices[s.Name] = s
	}
	ready := 0
	var desc []string
	for _, sl := range sw.slices {
		n := 0
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				n++
			}
		}
		ready += n
		desc = append(desc, fmt.Sprintf("%s[%s]=%d", sl.Name, sl.Labels[discoveryv1.LabelManagedBy], n))
	}
	now := time.Now()
	switch {
	case ready == 0 && sw.since.IsZero():
		sw.since = now
	case ready > 0 && !sw.since.IsZero():
		sw.gaps = append(sw.gaps, fmt.Sprintf("%s +%s until %s (%s)", sw.since.Format("15:04:05.000"),
			now.Sub(sw.since).Round(time.Millisecond), ev.Type, strings.Join(desc, " ")))
		sw.since = time.Time{}
	}
}

// stop ends the watch and returns the gaps seen.
func (sw *sliceWatch) stop() []string {
	sw.cancel()
	<-sw.done
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.gaps
}

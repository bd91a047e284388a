package probe

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/internal/perkey"
	"github.com/elasti-dev/elasti/sidecar/internal/registry"
)

// Manager runs one probe loop per service that has held requests.
type Manager struct {
	// Interval between probe rounds.
	Interval time.Duration
	Registry *registry.Registry
	// Waiting returns how many requests are held for a key; the loop ends at zero.
	Waiting func(key string) int
	Prober  *Prober
	// Observe (may be nil) is told every probe result.
	Observe func(key string, ok bool)
	Log     logr.Logger

	loops perkey.Loops
}

// Ensure starts the probe loop of a service unless it runs already. It returns at once.
func (m *Manager) Ensure(ctx context.Context, key string) {
	m.loops.Go(key, func() { m.loop(ctx, key) }, func() bool { return ctx.Err() == nil && m.Waiting(key) > 0 })
}

// loop probes in rounds while requests wait and there is something to probe.
func (m *Manager) loop(ctx context.Context, key string) {
	for m.Waiting(key) > 0 && m.round(ctx, key) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(m.Interval):
		}
	}
}

// round probes every not-ready (or refused), not-yet-answering endpoint once, in parallel. It returns false
// when there is nothing the sidecar can probe.
func (m *Manager) round(ctx context.Context, key string) bool {
	s, ok := m.Registry.Get(key)
	if !ok || s.Probe == nil || (s.Probe.Type != stream.ProbeHTTP && s.Probe.Type != stream.ProbeTCP) {
		return false
	}
	var wg sync.WaitGroup
	for _, ep := range s.Endpoints {
		// A ready endpoint is probed only after it refused a connection: a request held again
		// because of that refusal waits for this probe (see registry.MarkRefused).
		if ep.IP == "" || m.Registry.Answering(key, ep.IP) || (ep.Ready && !m.Registry.Refused(key, ep.IP)) {
			continue
		}
		wg.Go(func() {
			err := m.Prober.Probe(ctx, ep.IP, *s.Probe)
			if m.Observe != nil {
				m.Observe(key, err == nil)
			}
			if err != nil {
				m.Log.V(2).Info("endpoint not answering yet", "service", key, "pod", ep.Pod, "reason", err.Error())
				return
			}
			m.Log.V(1).Info("probe found endpoint answering before the kubelet", "service", key, "pod", ep.Pod, "ip", ep.IP)
			m.Registry.MarkAnswering(key, ep.IP)
		})
	}
	wg.Wait()
	return true
}

package elastiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/pkg/names"
)

// activity throttles the last-activity annotation: at most one patch per ElastiService per
// interval (per replica), which is plenty for the leader to notice activity and cancel a
// scale-down, and keeps a busy wake-up from turning into a stream of writes.
type activity struct {
	mu       sync.Mutex
	interval time.Duration
	now      func() time.Time
	last     map[types.UID]time.Time
}

func newActivity(interval time.Duration, now func() time.Time) *activity {
	return &activity{interval: interval, now: now, last: map[types.UID]time.Time{}}
}

// due reports whether es should be patched now and, if so, records it.
func (a *activity) due(es *v1alpha1.ElastiService) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if last, ok := a.last[es.UID]; ok && now.Sub(last) < a.interval {
		return now, false
	}
	if len(a.last) > 10000 { // bounded: forget entries old enough to be due anyway
		for uid, t := range a.last {
			if now.Sub(t) >= a.interval {
				delete(a.last, uid)
			}
		}
	}
	a.last[es.UID] = now
	return now, true
}

// forget lets the next call patch again (after a failed patch).
func (a *activity) forget(es *v1alpha1.ElastiService) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.last, es.UID)
}

// markActive merge-patches names.AnnotationLastActivity on es when due.
func (s *Server) markActive(ctx context.Context, es *v1alpha1.ElastiService) error {
	now, ok := s.activity.due(es)
	if !ok {
		return nil
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		names.AnnotationLastActivity: now.UTC().Format(time.RFC3339),
	}}})
	if err != nil {
		return fmt.Errorf("encoding last-activity patch: %w", err)
	}
	obj := &v1alpha1.ElastiService{}
	obj.Namespace, obj.Name = es.Namespace, es.Name
	if err := s.opts.Writer.Patch(ctx, obj, client.RawPatch(types.MergePatchType, body)); err != nil {
		s.activity.forget(es)
		return fmt.Errorf("marking ElastiService %s/%s active: %w", es.Namespace, es.Name, err)
	}
	return nil
}

package controller

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/elasti-dev/elasti/api/v1alpha1"
	"github.com/elasti-dev/elasti/internal/testenv"
	"github.com/elasti-dev/elasti/pkg/names"
)

// TestSidecarChangeQueuesActiveServicesFirst: after a sidecar change, every ElastiService in proxy
// mode is queued, and those whose Service had a request within activeWindow come out of the
// priority queue before the idle ones; Services in serve mode are not queued.
func TestSidecarChangeQueuesActiveServicesFirst(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	es := func(name string, mode v1alpha1.Mode, lastActivity time.Duration) client.Object {
		o := &v1alpha1.ElastiService{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Status: v1alpha1.ElastiServiceStatus{Mode: mode}}
		if lastActivity >= 0 {
			o.Annotations = map[string]string{names.AnnotationLastActivity: now.Add(-lastActivity).Format(time.RFC3339)}
		}
		return o
	}
	c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(
		es("idle-a", v1alpha1.ModeProxy, -1),
		es("idle-b", v1alpha1.ModeProxy, time.Hour),
		es("active-a", v1alpha1.ModeProxy, 5*time.Second),
		es("idle-c", v1alpha1.ModeProxy, activeWindow+time.Second),
		es("active-b", v1alpha1.ModeProxy, activeWindow),
		es("warm", v1alpha1.ModeServe, time.Second),
	).Build()
	r := &Reconciler{Client: c, Tracker: NewTracker(), Now: func() time.Time { return now }}

	q := priorityqueue.New[reconcile.Request]("test")
	defer q.ShutDown()
	r.enqueueActiveFirst(context.Background(), q)
	require.Equal(t, 5, q.Len())
	var order []string
	for range 5 {
		req, prio, _ := q.GetWithPriority()
		order = append(order, req.Name)
		if prio == activePriority {
			assert.Contains(t, []string{"active-a", "active-b"}, req.Name)
		}
		q.Done(req)
	}
	assert.ElementsMatch(t, []string{"active-a", "active-b"}, order[:2], "active Services first: %v", order)
	assert.ElementsMatch(t, []string{"idle-a", "idle-b", "idle-c"}, order[2:], "then the idle ones: %v", order)
}

func TestActiveWithin(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	with := func(v string) *v1alpha1.ElastiService {
		return &v1alpha1.ElastiService{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{names.AnnotationLastActivity: v}}}
	}
	assert.True(t, activeWithin(with("2026-12-01T07:59:00Z"), now, time.Minute))
	assert.False(t, activeWithin(with("2026-12-01T07:58:59Z"), now, time.Minute))
	assert.False(t, activeWithin(with("yesterday"), now, time.Minute), "an unreadable annotation is not activity")
	assert.False(t, activeWithin(&v1alpha1.ElastiService{}, now, time.Minute))
}

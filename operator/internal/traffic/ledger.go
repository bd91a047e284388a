package traffic

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

const (
	// LabelTraffic marks the replicas' traffic Leases.
	LabelTraffic = "elasti.dev/traffic"
	// AnnotationTotals holds a Lease's totals: JSON {"namespace/service": Total}.
	AnnotationTotals = "elasti.dev/traffic-totals"
	// leasePrefix + the replica's name is the name of its Lease.
	leasePrefix = "elasti-traffic-"

	// DefaultFlushInterval: a replica writes its Lease at most this often, and only when a total
	// changed.
	DefaultFlushInterval = time.Second
	// forgetAfter: a total not counted for this long is dropped from the Lease (it bounds the
	// Lease's size by the services with recent traffic).
	forgetAfter = time.Hour
)

// Total is one replica's running count of the requests forwarded for one service.
type Total struct {
	// Count is how many forwarded requests the replica was told of since Since.
	Count int64 `json:"n"`
	// Since is when the replica started this count (its first report for the service, or the
	// first after the count was dropped).
	Since time.Time `json:"since"`
	// Last is when the replica last received a report with requests for the service.
	Last time.Time `json:"last"`
}

// LeaseName is the name of the traffic Lease of the operator replica named replica.
func LeaseName(replica string) string { return leasePrefix + replica }

// Ledger is one operator replica's totals of forwarded requests, per service ("namespace/name").
// Add is safe for concurrent use; Start writes the totals to the replica's Lease.
type Ledger struct {
	// Client writes the Lease.
	Client client.Client
	// Reader reads it back when needed (the API server: the operator's cache does not hold these
	// Leases); default Client.
	Reader client.Reader
	// Namespace holds the Lease; Replica names it (the pod's name).
	Namespace, Replica string
	// FlushInterval: see DefaultFlushInterval (0 means the default).
	FlushInterval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu     sync.Mutex
	totals map[string]Total
	dirty  bool
	// kick asks for a flush before the interval ends: a service's first requests after a quiet
	// spell are what ends an observation, so they are written at once.
	kick chan struct{}
	// lease is the last Lease written (its resourceVersion makes the next update cheap).
	lease *coordinationv1.Lease
}

// Add counts n forwarded requests for key, reported at at. n <= 0 (an activity report of a
// sidecar that does not count) changes nothing.
func (l *Ledger) Add(key string, n int64, at time.Time) {
	if n <= 0 {
		return
	}
	l.mu.Lock()
	if l.totals == nil {
		l.totals = map[string]Total{}
	}
	t, ok := l.totals[key]
	if !ok {
		t.Since = at
	}
	quiet := !ok || at.Sub(t.Last) > 2*l.interval()
	t.Count += n
	t.Last = at
	l.totals[key] = t
	l.dirty = true
	kick := l.kickChan()
	l.mu.Unlock()
	if quiet {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
}

// NeedLeaderElection is false: every replica writes the reports it receives.
func (l *Ledger) NeedLeaderElection() bool { return false }

// Start flushes the totals until ctx ends (manager.Runnable).
func (l *Ledger) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("traffic-ledger")
	kick := func() chan struct{} { l.mu.Lock(); defer l.mu.Unlock(); return l.kickChan() }()
	flush := func() {
		if err := l.Flush(ctx); err != nil && ctx.Err() == nil {
			logger.Error(err, "writing the traffic lease")
		}
	}
	ticker := time.NewTicker(l.interval())
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			flush()
		case <-kick:
			flush()
		}
	}
}

// Flush writes the totals to the Lease when they changed since the last write.
func (l *Ledger) Flush(ctx context.Context) error {
	l.mu.Lock()
	if !l.dirty {
		l.mu.Unlock()
		return nil
	}
	now := l.now()
	for k, t := range l.totals {
		if now.Sub(t.Last) > forgetAfter {
			delete(l.totals, k)
		}
	}
	body, err := json.Marshal(l.totals)
	l.dirty = false
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encoding traffic totals: %w", err)
	}
	if err := l.write(ctx, string(body), now); err != nil {
		l.mu.Lock()
		l.dirty = true // written with the next flush
		l.mu.Unlock()
		return err
	}
	return nil
}

func (l *Ledger) write(ctx context.Context, totals string, now time.Time) error {
	renew := metav1.NewMicroTime(now)
	if l.lease == nil {
		reader := l.Reader
		if reader == nil {
			reader = l.Client
		}
		cur := &coordinationv1.Lease{}
		err := reader.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: LeaseName(l.Replica)}, cur)
		switch {
		case apierrors.IsNotFound(err):
			holder := l.Replica
			cur = &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Namespace: l.Namespace, Name: LeaseName(l.Replica),
					Labels: map[string]string{LabelTraffic: "true"}, Annotations: map[string]string{AnnotationTotals: totals}},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &renew},
			}
			if err := l.Client.Create(ctx, cur); err != nil {
				return fmt.Errorf("creating traffic lease %s: %w", cur.Name, err)
			}
			l.lease = cur
			return nil
		case err != nil:
			return fmt.Errorf("reading traffic lease: %w", err)
		}
		l.lease = cur
	}
	next := l.lease.DeepCopy()
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	next.Labels[LabelTraffic] = "true"
	next.Annotations[AnnotationTotals] = totals
	next.Spec.RenewTime = &renew
	if err := l.Client.Update(ctx, next); err != nil {
		l.lease = nil // re-read next time (deleted, or changed by someone else)
		return fmt.Errorf("updating traffic lease %s: %w", next.Name, err)
	}
	l.lease = next
	return nil
}

func (l *Ledger) kickChan() chan struct{} {
	if l.kick == nil {
		l.kick = make(chan struct{}, 1)
	}
	return l.kick
}

func (l *Ledger) interval() time.Duration {
	if l.FlushInterval > 0 {
		return l.FlushInterval
	}
	return DefaultFlushInterval
}

func (l *Ledger) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Leases lists the replicas' traffic Leases in namespace and decodes their totals, by Lease
// name. A Lease whose annotation does not decode is left out and reported in the error (the
// others are still returned).
func Leases(ctx context.Context, r client.Reader, namespace string) (map[string]map[string]Total, error) {
	list := &coordinationv1.LeaseList{}
	if err := r.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{LabelTraffic: "true"}); err != nil {
		return nil, fmt.Errorf("listing traffic leases: %w", err)
	}
	out := make(map[string]map[string]Total, len(list.Items))
	var bad []string
	for i := range list.Items {
		l := &list.Items[i]
		totals := map[string]Total{}
		if raw := l.Annotations[AnnotationTotals]; raw != "" {
			if err := json.Unmarshal([]byte(raw), &totals); err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", l.Name, err))
				continue
			}
		}
		out[l.Name] = totals
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("traffic leases that do not decode: %v", bad)
	}
	return out, nil
}

// CollectStale deletes traffic Leases not renewed for olderThan (replicas gone for good); their
// totals stopped growing long ago, so dropping them changes no rate.
func CollectStale(ctx context.Context, r client.Reader, c client.Writer, namespace string, olderThan time.Duration, now time.Time) (int, error) {
	list := &coordinationv1.LeaseList{}
	if err := r.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{LabelTraffic: "true"}); err != nil {
		return 0, fmt.Errorf("listing traffic leases: %w", err)
	}
	n := 0
	for i := range list.Items {
		l := &list.Items[i]
		if l.Spec.RenewTime == nil || now.Sub(l.Spec.RenewTime.Time) < olderThan {
			continue
		}
		if err := c.Delete(ctx, l, client.Preconditions{ResourceVersion: &l.ResourceVersion}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return n, fmt.Errorf("deleting stale traffic lease %s: %w", l.Name, err)
		}
		n++
	}
	return n, nil
}

package acks

import (
	"context"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Defaults of a Collector.
const (
	DefaultCollectInterval = time.Minute
	// DefaultMinAge spares a Lease created a moment ago for a pod this replica's cache has not
	// seen yet.
	DefaultMinAge = 2 * time.Minute
)

// Collector deletes the acknowledgement Leases of sidecar pods that are gone (a Lease in another
// namespace cannot be owned by the pod, so garbage collection cannot do it). It runs on the leader.
type Collector struct {
	Store *Store
	// Pods reads pods, normally from the cache; a pod it does not find is confirmed gone through
	// APIReader before its Lease is deleted.
	Pods      client.Reader
	APIReader client.Reader
	// Interval between passes and MinAge of a Lease before it may go; defaults above.
	Interval, MinAge time.Duration
}

var (
	_ manager.Runnable               = (*Collector)(nil)
	_ manager.LeaderElectionRunnable = (*Collector)(nil)
)

// NeedLeaderElection: one replica collects.
func (c *Collector) NeedLeaderElection() bool { return true }

// Start collects every Interval until ctx ends.
func (c *Collector) Start(ctx context.Context) error {
	interval := c.Interval
	if interval <= 0 {
		interval = DefaultCollectInterval
	}
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if n, err := c.Collect(ctx); err != nil {
			log.FromContext(ctx).Error(err, "collecting acknowledgement leases of gone sidecars")
		} else if n > 0 {
			log.FromContext(ctx).V(1).Info("deleted acknowledgement leases of gone sidecars", "count", n)
		}
	}, interval)
	return nil
}

// Collect makes one pass and returns the number of Leases deleted.
func (c *Collector) Collect(ctx context.Context) (int, error) {
	list := &coordinationv1.LeaseList{}
	if err := c.Store.Client.List(ctx, list, client.InNamespace(c.Store.namespace()), client.MatchingLabels{LabelAcks: "true"}); err != nil {
		return 0, err
	}
	minAge := c.MinAge
	if minAge <= 0 {
		minAge = DefaultMinAge
	}
	deleted := 0
	for i := range list.Items {
		l := &list.Items[i]
		if c.Store.now().Sub(l.CreationTimestamp.Time) < minAge {
			continue
		}
		gone, err := c.podGone(ctx, l)
		if err != nil {
			return deleted, err
		}
		if !gone {
			continue
		}
		if err := c.Store.Client.Delete(ctx, l, client.Preconditions{UID: &l.UID}); err != nil && !apierrors.IsNotFound(err) {
			return deleted, err
		}
		deleted++
	}
	return deleted, nil
}

// podGone reports whether the pod the Lease belongs to (holderIdentity "namespace/name", UID from
// the Lease's name) no longer exists.
func (c *Collector) podGone(ctx context.Context, l *coordinationv1.Lease) (bool, error) {
	uid, ok := strings.CutPrefix(l.Name, leasePrefix)
	if !ok || l.Spec.HolderIdentity == nil {
		return true, nil // not one we wrote
	}
	ns, name, ok := strings.Cut(*l.Spec.HolderIdentity, "/")
	if !ok {
		return true, nil
	}
	for _, r := range []client.Reader{c.Pods, c.APIReader} {
		if r == nil {
			continue
		}
		pod := &corev1.Pod{}
		err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod)
		switch {
		case err == nil && pod.UID == types.UID(uid):
			return false, nil
		case err != nil && !apierrors.IsNotFound(err):
			return false, err
		}
	}
	return true, nil
}

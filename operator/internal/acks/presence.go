package acks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/pkg/names"
)

// Annotations of a Lease that say whether its sidecar is connected (see State).
const (
	// AnnotationInstance is the sidecar process's instance id (stream.InstanceHeader), written
	// when a stream connects. A different id means a new process: its listeners start closed, so
	// what the previous one acknowledged no longer holds.
	AnnotationInstance = names.Group + "/instance"
	// AnnotationStream is the id of the stream the sidecar has open, "" or absent when none.
	AnnotationStream = names.Group + "/stream"
)

// State is what a sidecar's Lease says: whether it has a stream open to some operator replica,
// and which services it has acknowledged since its process started (their ports are open).
type State struct {
	Connected bool
	acked     map[string]struct{} // annotation keys; never changed once built (States shares it)
}

// Acked reports whether the sidecar acknowledged service ("namespace/name").
func (s State) Acked(service string) bool {
	key, ok := AnnotationKey(service)
	if !ok {
		return false
	}
	_, acked := s.acked[key]
	return acked
}

// Live reports whether the sidecar accepts connections for service now: connected and acknowledged.
func (s State) Live(service string) bool { return s.Connected && s.Acked(service) }

// StateOf reads a Lease. A stream without an instance id comes from a sidecar older than sidecar
// ports and instance ids, which acknowledges services without listening on their sidecar ports:
// it never counts as connected, so it is never listed ready (its gateway must be restarted to get
// the current sidecar).
func StateOf(l *coordinationv1.Lease) State {
	connected := l.Annotations[AnnotationStream] != "" && l.Annotations[AnnotationInstance] != ""
	st := State{Connected: connected, acked: map[string]struct{}{}}
	for a := range l.Annotations {
		if _, ok := serviceKey(a); ok {
			st.acked[a] = struct{}{}
		}
	}
	return st
}

// NewState builds a State (tests of code that reads states).
func NewState(connected bool, services ...string) State {
	st := State{Connected: connected, acked: map[string]struct{}{}}
	for _, svc := range services {
		if key, ok := AnnotationKey(svc); ok {
			st.acked[key] = struct{}{}
		}
	}
	return st
}

// States returns the State of every sidecar with a Lease, by pod UID. A sidecar without one is
// not connected.
//
// Every reconcile of a Service in proxy mode asks, so a Lease is read once per version: the list
// shares the cache's objects (read only) and a State is kept until its Lease changes. At 1,000
// Services, copying and parsing four Leases of 1,000 acknowledgements on every reconcile was 31 %
// of the CPU profile of TestIntegrationGatewayChurnAtScale (operator and test in one process)
// (issue 17).
func (s *Store) States(ctx context.Context) (map[types.UID]State, error) {
	list := &coordinationv1.LeaseList{}
	if err := s.Client.List(ctx, list, client.InNamespace(s.namespace()), client.MatchingLabels{LabelAcks: "true"},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing acknowledgement leases: %w", err)
	}
	s.memoMu.Lock()
	defer s.memoMu.Unlock()
	if s.memo == nil {
		s.memo = map[types.UID]memoState{}
	}
	out := make(map[types.UID]State, len(list.Items))
	for i := range list.Items {
		l := &list.Items[i]
		uid, ok := uidOf(l.Name)
		if !ok {
			continue
		}
		m, ok := s.memo[uid]
		if !ok || m.resourceVersion != l.ResourceVersion || l.ResourceVersion == "" {
			m = memoState{resourceVersion: l.ResourceVersion, state: StateOf(l)}
			s.memo[uid] = m
		}
		out[uid] = m.state
	}
	for uid := range s.memo {
		if _, ok := out[uid]; !ok {
			delete(s.memo, uid) // the Lease is gone
		}
	}
	return out, nil
}

// memoState is a Lease's State as of its resourceVersion (States).
type memoState struct {
	resourceVersion string
	state           State
}

func uidOf(leaseName string) (types.UID, bool) {
	uid, ok := strings.CutPrefix(leaseName, leasePrefix)
	return types.UID(uid), ok && uid != ""
}

// Connect records that the sidecar opened stream (an id unique to this stream) from process
// instance. When instance differs from the one recorded, every acknowledgement is dropped in the
// same write: a restarted process has its ports closed until it acknowledges again.
func (s *Store) Connect(ctx context.Context, sc Sidecar, instance, stream string) error {
	return s.retry(ctx, func(reader client.Reader, _ bool) error {
		cur := &coordinationv1.Lease{}
		err := reader.Get(ctx, client.ObjectKey{Namespace: s.namespace(), Name: LeaseName(sc.UID)}, cur)
		if apierrors.IsNotFound(err) {
			return s.create(ctx, sc, map[string]string{AnnotationInstance: instance, AnnotationStream: stream})
		}
		if err != nil {
			return fmt.Errorf("reading acknowledgement lease of %s/%s: %w", sc.Namespace, sc.Name, err)
		}
		changes := map[string]any{AnnotationInstance: instance, AnnotationStream: stream}
		if cur.Annotations[AnnotationInstance] != instance {
			for key := range cur.Annotations {
				if _, isAck := serviceKey(key); isAck {
					changes[key] = nil
				}
			}
		}
		return s.patch(ctx, cur, changes)
	})
}

// Disconnect records that stream ended, unless the Lease already names another stream (the
// sidecar reconnected, maybe to another replica, before this one noticed).
func (s *Store) Disconnect(ctx context.Context, sc Sidecar, stream string) error {
	return s.retry(ctx, func(reader client.Reader, live bool) error {
		cur := &coordinationv1.Lease{}
		err := reader.Get(ctx, client.ObjectKey{Namespace: s.namespace(), Name: LeaseName(sc.UID)}, cur)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("reading acknowledgement lease of %s/%s: %w", sc.Namespace, sc.Name, err)
		}
		if err != nil || cur.Annotations[AnnotationStream] != stream {
			return confirm(live) // the cache may not show this stream's own Connect yet
		}
		return s.patch(ctx, cur, map[string]any{AnnotationStream: nil})
	})
}

// patch sends annotation changes as a JSON merge patch conditional on cur's resourceVersion.
func (s *Store) patch(ctx context.Context, cur *coordinationv1.Lease, changes map[string]any) error {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": cur.ResourceVersion, "annotations": changes},
		"spec":     map[string]any{"renewTime": metav1.NewMicroTime(s.now())},
	})
	if err != nil {
		return fmt.Errorf("encoding acknowledgement patch: %w", err)
	}
	if err := s.Client.Patch(ctx, cur, client.RawPatch(types.MergePatchType, body)); err != nil {
		return fmt.Errorf("writing acknowledgement lease %s: %w", cur.Name, err)
	}
	return nil
}

// errUnconfirmed: an operation found nothing to write in the cache's copy of a Lease. The cache may
// be behind another replica's write (a Connect that dropped the acknowledgements of a restarted
// sidecar process, seconds ago on the other replica), so "nothing to do" holds only once the API
// server's copy says so.
var errUnconfirmed = errors.New("nothing to write according to the cache")

// confirm is what an operation that found nothing to write returns: done when it read the API
// server's copy (live), errUnconfirmed otherwise.
func confirm(live bool) error {
	if live {
		return nil
	}
	return errUnconfirmed
}

// retry runs op with the cache as reader, then with the API server as reader after a conflict or
// when op found nothing to write (errUnconfirmed). Writes are conditional on the resourceVersion
// read, so a write computed from a stale copy is refused, never applied. Without an APIReader the
// Client's reads count as live.
func (s *Store) retry(ctx context.Context, op func(reader client.Reader, live bool) error) error {
	var reader client.Reader = s.Client
	live := s.APIReader == nil
	for attempt := 0; ; attempt++ {
		err := op(reader, live)
		if errors.Is(err, errUnconfirmed) {
			err = nil
			if !live {
				reader, live = s.APIReader, true
				continue
			}
		}
		if err == nil || attempt == conflictRetries || !(apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) {
			return err
		}
		if s.APIReader != nil {
			reader, live = s.APIReader, true
		}
	}
}

// ChangedServices returns the services ("namespace/name") acknowledged in one Lease and not the
// other.
func ChangedServices(a, b *coordinationv1.Lease) []string {
	var out []string
	for _, pair := range [][2]*coordinationv1.Lease{{a, b}, {b, a}} {
		for key := range pair[0].Annotations {
			if svc, ok := serviceKey(key); ok {
				if _, both := pair[1].Annotations[key]; !both {
					out = append(out, svc)
				}
			}
		}
	}
	return out
}

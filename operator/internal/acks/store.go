package acks

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/elasti-dev/elasti/pkg/names"
)

const (
	// LabelAcks marks the acknowledgement Leases (the operator's cache selects on it).
	LabelAcks = names.Group + "/sidecar-acks"
	// leasePrefix + pod UID is a Lease's name.
	leasePrefix = "elasti-acks-"
	// keySuffix follows the service's namespace in an annotation key.
	keySuffix = ".ack." + names.Group
	// conflictRetries bounds the re-reads after a concurrent write.
	conflictRetries = 3
)

// Sidecar identifies the pod whose acknowledgements are recorded.
type Sidecar struct {
	Namespace, Name string
	UID             types.UID
}

// LeaseName returns the name of the Lease of the sidecar pod with uid.
func LeaseName(uid types.UID) string { return leasePrefix + string(uid) }

// AnnotationKey turns a service key "namespace/name" into its annotation key
// "namespace.ack.elasti.dev/name" (a namespace is a DNS label and a Service name at most 63
// characters, so every valid key maps to a valid annotation key, and back).
func AnnotationKey(service string) (string, bool) {
	ns, name, ok := strings.Cut(service, "/")
	if !ok || ns == "" || name == "" || len(ns) > 63 || len(name) > 63 || strings.Contains(name, "/") || strings.Contains(ns, ".") {
		return "", false
	}
	return ns + keySuffix + "/" + name, true
}

// serviceKey is AnnotationKey's inverse; false for an annotation that is not an ack.
func serviceKey(annotation string) (string, bool) {
	prefix, name, ok := strings.Cut(annotation, "/")
	if !ok {
		return "", false
	}
	ns, ok := strings.CutSuffix(prefix, keySuffix)
	if !ok || ns == "" || strings.Contains(ns, ".") {
		return "", false
	}
	return ns + "/" + name, true
}

// Services returns the service keys a Lease records, sorted.
func Services(l *coordinationv1.Lease) []string {
	out := make([]string, 0, len(l.Annotations))
	for a := range l.Annotations {
		if k, ok := serviceKey(a); ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Store reads and writes acknowledgement Leases.
type Store struct {
	// Client reads Leases (normally the manager's cache, which holds only these) and writes them.
	Client client.Client
	// APIReader re-reads a Lease after a conflict (the cache may be behind); default Client.
	APIReader client.Reader
	// Namespace holds the Leases; default names.SystemNamespace.
	Namespace string
	// Now is the clock; default time.Now.
	Now func() time.Time

	memoMu sync.Mutex
	memo   map[types.UID]memoState // States: each Lease's State as of its resourceVersion
}

func (s *Store) namespace() string {
	if s.Namespace == "" {
		return names.SystemNamespace
	}
	return s.Namespace
}

// Record makes the sidecar's Lease list exactly services (valid "namespace/name" keys). It
// returns how many annotations changed: 0 means nothing was written. Only the changes are sent
// (a JSON merge patch with the resourceVersion they were computed against); after a conflict the
// Lease is re-read from the API server and the changes computed again.
func (s *Store) Record(ctx context.Context, sc Sidecar, services []string) (int, error) {
	want, err := annotationKeys(services)
	if err != nil {
		return 0, err
	}
	return s.recordRetrying(ctx, sc, func(map[string]string) map[string]bool { return want })
}

// recordRetrying is record, computed again from the API server after a conflict (retry).
func (s *Store) recordRetrying(ctx context.Context, sc Sidecar, wantOf func(cur map[string]string) map[string]bool) (int, error) {
	var n int
	err := s.retry(ctx, func(reader client.Reader, live bool) error {
		var err error
		n, err = s.record(ctx, reader, live, sc, wantOf)
		return err
	})
	return n, err
}

// Change adds the acknowledgements of added to the sidecar's Lease and removes those of removed
// (valid "namespace/name" keys; a key in both is removed), leaving the others as they are: what a
// sidecar's change Ack says (stream.AckChange). It returns how many annotations changed, like
// Record, and writes the same way.
func (s *Store) Change(ctx context.Context, sc Sidecar, added, removed []string) (int, error) {
	add, err := annotationKeys(added)
	if err != nil {
		return 0, err
	}
	remove, err := annotationKeys(removed)
	if err != nil {
		return 0, err
	}
	return s.recordRetrying(ctx, sc, func(cur map[string]string) map[string]bool {
		want := make(map[string]bool, len(cur)+len(add))
		for key := range cur {
			if _, isAck := serviceKey(key); isAck {
				want[key] = true
			}
		}
		for key := range add {
			want[key] = true
		}
		for key := range remove {
			delete(want, key)
		}
		return want
	})
}

func annotationKeys(services []string) (map[string]bool, error) {
	out := make(map[string]bool, len(services))
	for _, svc := range services {
		key, ok := AnnotationKey(svc)
		if !ok {
			return nil, fmt.Errorf("service key %q is not \"namespace/name\"", svc)
		}
		out[key] = true
	}
	return out, nil
}

// record makes the Lease's acknowledgements what wantOf says, given its current annotations
// (nil when there is no Lease yet).
func (s *Store) record(ctx context.Context, reader client.Reader, live bool, sc Sidecar, wantOf func(cur map[string]string) map[string]bool) (int, error) {
	cur := &coordinationv1.Lease{}
	err := reader.Get(ctx, client.ObjectKey{Namespace: s.namespace(), Name: LeaseName(sc.UID)}, cur)
	if apierrors.IsNotFound(err) {
		want := wantOf(nil)
		annotations := make(map[string]string, len(want))
		for key := range want {
			annotations[key] = ""
		}
		return len(want), s.create(ctx, sc, annotations)
	}
	if err != nil {
		return 0, fmt.Errorf("reading acknowledgement lease of %s/%s: %w", sc.Namespace, sc.Name, err)
	}
	want := wantOf(cur.Annotations)
	changes := map[string]any{}
	for key := range want {
		if _, ok := cur.Annotations[key]; !ok {
			changes[key] = ""
		}
	}
	for key := range cur.Annotations {
		if _, isAck := serviceKey(key); isAck && !want[key] {
			changes[key] = nil // merge patch: delete
		}
	}
	if len(changes) == 0 {
		// A restarted sidecar acknowledges what its previous process had: the cache may still show
		// those acknowledgements although another replica's Connect has dropped them.
		return 0, confirm(live)
	}
	if err := s.patch(ctx, cur, changes); err != nil {
		return 0, err
	}
	return len(changes), nil
}

// create writes a new Lease for sc with annotations.
func (s *Store) create(ctx context.Context, sc Sidecar, annotations map[string]string) error {
	holder := sc.Namespace + "/" + sc.Name
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: s.namespace(), Name: LeaseName(sc.UID),
			Labels:      map[string]string{LabelAcks: "true"},
			Annotations: annotations,
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: ptrMicro(s.now())},
	}
	if err := s.Client.Create(ctx, l); err != nil {
		return fmt.Errorf("creating acknowledgement lease of %s: %w", holder, err)
	}
	return nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func ptrMicro(t time.Time) *metav1.MicroTime {
	m := metav1.NewMicroTime(t)
	return &m
}

// CacheByObject is what the manager's cache must hold of Leases: only the acknowledgement Leases,
// only in namespace (the operator may not list Leases elsewhere).
func CacheByObject(namespace string) cache.ByObject {
	return cache.ByObject{
		Namespaces: map[string]cache.Config{namespace: {}},
		Label:      labels.SelectorFromSet(labels.Set{LabelAcks: "true"}),
	}
}

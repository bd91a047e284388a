package elastiserver

import (
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/elasti-dev/elasti/pkg/stream"
)

// maxDirty: a stream with more pending keys than this gets a snapshot instead of an update.
const maxDirty = 256

// state is what every stream shows: one stream.Service per key (namespace/service name). It
// fans changes out to subscribers without ever blocking on one of them.
type state struct {
	mu       sync.RWMutex
	services map[string]stream.Service
	subs     map[*subscriber]struct{}
}

func newState() *state {
	return &state{services: map[string]stream.Service{}, subs: map[*subscriber]struct{}{}}
}

// set stores svc under key (nil removes it) and marks the key on every subscriber when
// something changed. It reports whether it changed.
func (s *state) set(key string, svc *stream.Service) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.services[key]
	switch {
	case svc == nil && !had:
		return false
	case svc == nil:
		delete(s.services, key)
	case had && reflect.DeepEqual(old, *svc):
		return false
	default:
		s.services[key] = *svc
	}
	services.Set(float64(len(s.services)))
	for sub := range s.subs {
		sub.mark(key)
	}
	return true
}

// get returns the service stored under key.
func (s *state) get(key string) (stream.Service, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	svc, ok := s.services[key]
	return svc, ok
}

// keys returns every stored key.
func (s *state) keys() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.services))
	for k := range s.services {
		out = append(out, k)
	}
	return out
}

// snapshotLocked returns every service sorted by key; the caller holds mu.
func (s *state) snapshotLocked() []stream.Service {
	out := make([]stream.Service, 0, len(s.services))
	for _, svc := range s.services {
		out = append(out, svc)
	}
	slices.SortFunc(out, func(a, b stream.Service) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}

// subscribe registers a subscriber and returns it with the snapshot it starts from; changes
// after the snapshot are marked on it.
func (s *state) subscribe() (*subscriber, []stream.Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := &subscriber{notify: make(chan struct{}, 1), dirty: map[string]struct{}{}}
	s.subs[sub] = struct{}{}
	return sub, s.snapshotLocked()
}

func (s *state) unsubscribe(sub *subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, sub)
}

// pending turns what sub has missed into the next message: an update with the current value of
// each changed key (or its removal), or a snapshot when too much changed. ok is false when
// nothing is pending.
func (s *state) pending(sub *subscriber) (msg stream.Message, ok bool) {
	keys, full := sub.take()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if full {
		return stream.Message{Type: stream.TypeSnapshot, Services: s.snapshotLocked()}, true
	}
	if len(keys) == 0 {
		return stream.Message{}, false
	}
	msg.Type = stream.TypeUpdate
	for _, k := range keys {
		if svc, ok := s.services[k]; ok {
			msg.Services = append(msg.Services, svc)
		} else {
			msg.Removed = append(msg.Removed, k)
		}
	}
	return msg, true
}

// subscriber is one stream's view of pending changes: a set of keys, so a stream that is
// behind accumulates at most one entry per service, never a queue of messages.
type subscriber struct {
	notify chan struct{}
	mu     sync.Mutex
	dirty  map[string]struct{}
	full   bool
}

func (sub *subscriber) mark(key string) {
	sub.mu.Lock()
	if !sub.full {
		sub.dirty[key] = struct{}{}
		if len(sub.dirty) > maxDirty {
			sub.full, sub.dirty = true, map[string]struct{}{}
		}
	}
	sub.mu.Unlock()
	select {
	case sub.notify <- struct{}{}:
	default: // already notified
	}
}

// take returns and clears the pending keys (sorted) and the snapshot flag.
func (sub *subscriber) take() ([]string, bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	full := sub.full
	keys := make([]string, 0, len(sub.dirty))
	for k := range sub.dirty {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	sub.full, sub.dirty = false, map[string]struct{}{}
	return keys, full
}

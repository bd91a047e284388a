package ports

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/elasti-dev/elasti/pkg/portrange"
)

// Range is an inclusive range of ports.
type Range = portrange.Range

// Owner identifies one Service port of one ElastiService.
type Owner struct {
	// ElastiService is "namespace/name".
	ElastiService string
	// PortName is the Service port's name ("" for a single unnamed port).
	PortName string
}

// ErrExhausted: every port of the range is taken.
var ErrExhausted = errors.New("no free sidecar port left in the range")

// Want is one Service port to allocate for, with the sidecar port the ElastiService's status
// already records for it (0 when none).
type Want struct {
	PortName string
	Current  int32
}

// Allocator hands out sidecar ports. It is safe for concurrent use. The zero value is not usable;
// call New.
type Allocator struct {
	r Range

	mu      sync.Mutex
	owners  map[int32]Owner
	byES    map[string]map[string]int32 // ElastiService -> port name -> sidecar port
	short   map[string]bool             // ElastiServices whose last Assign came up short
	next    int32                       // where the search for a free port starts
	loaded  bool
	loadErr error
}

// New returns an empty allocator for r.
func New(r Range) *Allocator {
	return &Allocator{r: r, owners: map[int32]Owner{}, byES: map[string]map[string]int32{}, short: map[string]bool{}, next: r.First}
}

// Range is the allocator's range.
func (a *Allocator) Range() Range { return a.r }

// Recorded is one ElastiService's allocation as its status records it, for Load.
type Recorded struct {
	ElastiService string
	Ports         map[string]int32 // port name -> sidecar port
}

// Load indexes allocations already recorded in ElastiService statuses, once. recorded must be in
// priority order (oldest ElastiService first): when two record the same port, the first keeps it
// and the other is given a new one at its next Assign. Ports outside the range are ignored (the
// range was changed) and re-allocated the same way. Later calls do nothing.
func (a *Allocator) Load(recorded []Recorded) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.loaded {
		return
	}
	a.loaded = true
	for _, rec := range recorded {
		names := make([]string, 0, len(rec.Ports))
		for n := range rec.Ports {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			p := rec.Ports[n]
			if _, taken := a.owners[p]; taken || !a.r.Contains(p) {
				continue
			}
			a.claim(Owner{ElastiService: rec.ElastiService, PortName: n}, p)
		}
	}
}

// Loaded reports whether Load has run.
func (a *Allocator) Loaded() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.loaded
}

// Assign makes es own exactly one sidecar port per wanted Service port and releases the others it
// owned. A port es already records is kept when it is in the range and not owned by another
// ElastiService; otherwise a free one is taken. It returns the sidecar port of each wanted name,
// in the order of want; a port name that could not get one is left out of the map and reported in
// the error (ErrExhausted).
func (a *Allocator) Assign(es string, want []Want) (map[string]int32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	keep := map[string]bool{}
	for _, w := range want {
		keep[w.PortName] = true
	}
	for name, p := range a.byES[es] {
		if !keep[name] {
			a.release(Owner{ElastiService: es, PortName: name}, p)
		}
	}
	out := make(map[string]int32, len(want))
	var missing []string
	for _, w := range want {
		o := Owner{ElastiService: es, PortName: w.PortName}
		if p, ok := a.byES[es][w.PortName]; ok {
			if w.Current == 0 || w.Current == p {
				out[w.PortName] = p
				continue
			}
			a.release(o, p) // the status says otherwise: follow the status if it can be had
		}
		if cur := w.Current; cur != 0 && a.r.Contains(cur) {
			if _, taken := a.owners[cur]; !taken {
				a.claim(o, cur)
				out[w.PortName] = cur
				continue
			}
		}
		p, ok := a.free()
		if !ok {
			missing = append(missing, portLabel(w.PortName))
			continue
		}
		a.claim(o, p)
		out[w.PortName] = p
	}
	delete(a.short, es)
	if len(missing) > 0 {
		a.short[es] = true
		return out, fmt.Errorf("%w (%s, %d ports, all taken): no sidecar port for Service port %s",
			ErrExhausted, a.r, a.r.Size(), strings.Join(missing, ", "))
	}
	return out, nil
}

// Release frees every port es owns (the ElastiService is gone or no longer manages its Service)
// and returns how many.
func (a *Allocator) Release(es string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.short, es)
	n := 0
	for name, p := range a.byES[es] {
		a.release(Owner{ElastiService: es, PortName: name}, p)
		n++
	}
	return n
}

// Short returns the ElastiServices whose last Assign could not give every port one, sorted: they
// are worth another try when ports are freed.
func (a *Allocator) Short() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.short))
	for k := range a.short {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// InUse is the number of ports owned.
func (a *Allocator) InUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.owners)
}

// OwnerOf returns who owns port p.
func (a *Allocator) OwnerOf(p int32) (Owner, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	o, ok := a.owners[p]
	return o, ok
}

func (a *Allocator) claim(o Owner, p int32) {
	a.owners[p] = o
	m := a.byES[o.ElastiService]
	if m == nil {
		m = map[string]int32{}
		a.byES[o.ElastiService] = m
	}
	m[o.PortName] = p
}

func (a *Allocator) release(o Owner, p int32) {
	if a.owners[p] == o {
		delete(a.owners, p)
	}
	if m := a.byES[o.ElastiService]; m != nil && m[o.PortName] == p {
		delete(m, o.PortName)
		if len(m) == 0 {
			delete(a.byES, o.ElastiService)
		}
	}
}

// free finds an unowned port, searching on from the last one handed out so that a port just
// released is not reused at once (a sidecar may still be closing its listener).
func (a *Allocator) free() (int32, bool) {
	if len(a.owners) >= a.r.Size() {
		return 0, false
	}
	for i := 0; i < a.r.Size(); i++ {
		p := a.next
		a.next++
		if a.next > a.r.Last {
			a.next = a.r.First
		}
		if _, taken := a.owners[p]; !taken {
			return p, true
		}
	}
	return 0, false
}

func portLabel(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return name
}

package registry

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elasti-dev/elasti/pkg/stream"
	"github.com/elasti-dev/elasti/sidecar/internal/hosts"
)

var (
	// ErrUnknownHost: no ElastiService has this host name or ClusterIP.
	ErrUnknownHost = errors.New("no ElastiService matches this host")
	// ErrAmbiguousHost: a short name that more than one namespace uses.
	ErrAmbiguousHost = errors.New("host matches more than one ElastiService; use name.namespace")
)

// Service is one ElastiService as the stream described it. It is never modified after it is
// published.
type Service struct {
	stream.Service
	// Key is namespace/name.
	Key string
}

// view is one immutable version of everything the stream said.
type view struct {
	version  uint64
	services map[string]*Service
	byName   map[string][]string
	byIP     map[netip.Addr]string
}

// Registry holds the current view. The zero value is not usable; call New.
type Registry struct {
	clusterDomain string
	onChange      func(keys []string)

	current atomic.Pointer[view]
	synced  atomic.Bool

	mu        sync.Mutex
	departed  map[string]departure           // services that left the stream a moment ago
	answering map[string]map[string]struct{} // key -> pod IPs the sidecar's probe found answering
	refused   map[string]map[string]struct{} // key -> pod IPs that refused a connection since their last successful probe
}

// New returns an empty, unsynced registry. clusterDomain adds name.ns.svc.<domain> to the
// names each service answers to; onChange (may be nil) is called after every change with the
// keys that changed.
func New(clusterDomain string, onChange func(keys []string)) *Registry {
	r := &Registry{clusterDomain: clusterDomain, onChange: onChange, answering: map[string]map[string]struct{}{},
		refused: map[string]map[string]struct{}{}, departed: map[string]departure{}}
	r.current.Store(&view{services: map[string]*Service{}, byName: map[string][]string{}, byIP: map[netip.Addr]string{}})
	return r
}

// Synced reports whether a snapshot has been applied since start.
func (r *Registry) Synced() bool { return r.synced.Load() }

// Version is the version of the last applied message.
func (r *Registry) Version() uint64 { return r.current.Load().version }

// Get returns the service with this key.
func (r *Registry) Get(key string) (*Service, bool) {
	s, ok := r.current.Load().services[key]
	return s, ok
}

// Keys returns the sorted keys of every known service.
func (r *Registry) Keys() []string {
	v := r.current.Load()
	keys := make([]string, 0, len(v.services))
	for k := range v.services {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Lookup finds the service an authority names, by host name or ClusterIP.
func (r *Registry) Lookup(a hosts.Authority) (*Service, error) {
	v := r.current.Load()
	if a.IsIP() {
		if key, ok := v.byIP[a.IP]; ok {
			return v.services[key], nil
		}
		return nil, ErrUnknownHost
	}
	switch keys := v.byName[a.Name]; len(keys) {
	case 0:
		return nil, ErrUnknownHost
	case 1:
		return v.services[keys[0]], nil
	default:
		return nil, fmt.Errorf("%w (%v)", ErrAmbiguousHost, keys)
	}
}

// Apply applies one stream message and returns the sorted keys known afterwards. A stream
// must start with a snapshot; updates before one are rejected.
func (r *Registry) Apply(msg stream.Message) ([]string, error) {
	if msg.Type == stream.TypeHeartbeat {
		return r.Keys(), nil
	}
	next, changed, err := r.next(msg)
	if err != nil {
		return nil, err
	}
	r.recordDepartures(r.current.Load().services, next, changed)
	r.current.Store(r.index(msg.Version, next))
	if msg.Type == stream.TypeSnapshot {
		r.synced.Store(true)
	}
	r.pruneAnswering(next)
	if r.onChange != nil {
		slices.Sort(changed)
		r.onChange(slices.Compact(changed))
	}
	return r.Keys(), nil
}

// next computes the services after msg and the keys it changed, without publishing anything.
func (r *Registry) next(msg stream.Message) (map[string]*Service, []string, error) {
	old := r.current.Load()
	var next map[string]*Service
	var changed []string
	switch msg.Type {
	case stream.TypeSnapshot:
		next = make(map[string]*Service, len(msg.Services))
		for k := range old.services {
			changed = append(changed, k)
		}
	case stream.TypeUpdate:
		if !r.synced.Load() {
			return nil, nil, errors.New("update before the first snapshot")
		}
		next = maps.Clone(old.services)
		for _, k := range msg.Removed {
			delete(next, k)
			changed = append(changed, k)
		}
	default:
		return nil, nil, fmt.Errorf("unknown message type %q", msg.Type)
	}
	for i := range msg.Services {
		s := msg.Services[i]
		if err := validate(s); err != nil {
			return nil, nil, err
		}
		next[s.Key()] = &Service{Service: s, Key: s.Key()}
		changed = append(changed, s.Key())
	}
	return next, changed, nil
}

func validate(s stream.Service) error {
	if s.Namespace == "" || s.Name == "" {
		return fmt.Errorf("service %q has no namespace or name", s.Key())
	}
	if s.Mode != stream.ModeServe && s.Mode != stream.ModeProxy {
		return fmt.Errorf("service %s has mode %q; expected %q or %q", s.Key(), s.Mode, stream.ModeServe, stream.ModeProxy)
	}
	return nil
}

// index builds the lookup tables of a view.
func (r *Registry) index(version uint64, services map[string]*Service) *view {
	v := &view{version: version, services: services, byName: map[string][]string{}, byIP: map[netip.Addr]string{}}
	for key, s := range services {
		names := []string{s.Name, s.Name + "." + s.Namespace, s.Name + "." + s.Namespace + ".svc"}
		if r.clusterDomain != "" {
			names = append(names, s.Name+"."+s.Namespace+".svc."+r.clusterDomain)
		}
		for _, h := range s.Hosts {
			if a, err := hosts.Parse(h); err == nil && !a.IsIP() {
				names = append(names, a.Name)
			}
		}
		slices.Sort(names)
		for _, n := range slices.Compact(names) {
			v.byName[n] = append(v.byName[n], key)
		}
		for _, ip := range s.ClusterIPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				v.byIP[a.Unmap()] = key
			}
		}
	}
	for n := range v.byName {
		slices.Sort(v.byName[n])
	}
	return v
}

// DepartedFor is how long a service that left the stream stays available through Departed.
const DepartedFor = 30 * time.Second

type departure struct {
	svc *Service
	at  time.Time
}

// recordDepartures remembers the changed services of old that next no longer has, in serve mode
// (their ElastiService is gone: the Service leads to its pods), and forgets those that came back
// or left long ago.
func (r *Registry) recordDepartures(old, next map[string]*Service, changed []string) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, d := range r.departed {
		if _, back := next[key]; back || now.Sub(d.at) > DepartedFor {
			delete(r.departed, key)
		}
	}
	for _, key := range changed {
		s, was := old[key]
		if _, kept := next[key]; was && !kept {
			gone := *s
			gone.Mode = stream.ModeServe
			r.departed[key] = departure{svc: &gone, at: now}
		}
	}
}

// LingerFor is how long the sidecar ports of a service that left the stream stay open (see
// Lingering). An ElastiService deleted with its target up has its proxy slices deleted first, then
// leaves the stream at once; kube-proxy and ingress controllers may still send to the sidecars for
// a moment (Traefik applies EndpointSlice changes every 2 s; on a loaded kind node a request right
// after a deletion was refused, most likely by a sidecar port already closed). Listeners close at the first heartbeat after LingerFor.
const LingerFor = 5 * time.Second

// Lingering returns the last view (in serve mode) of each service that left the stream less than
// d ago, sorted by key.
func (r *Registry) Lingering(d time.Duration) []*Service {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	out := make([]*Service, 0, len(r.departed))
	for _, dep := range r.departed {
		if now.Sub(dep.at) < d {
			out = append(out, dep.svc)
		}
	}
	slices.SortFunc(out, func(a, b *Service) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Departed returns, for DepartedFor after it left the stream, the last view of a service, in
// serve mode: a request that reaches its sidecar port after that (on a connection accepted
// before the port closed, or kept alive) is forwarded to a ready endpoint of that view and its
// connection ended, so the client's next connection goes straight to a pod.
func (r *Registry) Departed(key string) (*Service, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.departed[key]
	if !ok || time.Since(d.at) > DepartedFor {
		return nil, false
	}
	return d.svc, true
}

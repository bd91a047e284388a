package stuboperator

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elasti-dev/elasti/pkg/messages"
	"github.com/elasti-dev/elasti/pkg/stream"
)

// Operator is a running stub. Fields may be changed before requests arrive.
type Operator struct {
	Server *httptest.Server
	// Token is the bearer token every request must carry.
	Token string
	// Heartbeat is how often the stream sends a heartbeat (default stream.HeartbeatInterval).
	Heartbeat time.Duration

	// RequestCountDelay delays every RequestCount answer; RequestCountStatus (default 200)
	// is the status answered.
	RequestCountDelay  atomic.Int64
	RequestCountStatus atomic.Int32
	// OnRequestCount, when set, is called for every accepted RequestCount.
	OnRequestCount func(messages.RequestCount)
	// RefuseChangeAcks answers change Acks 400, as an operator that predates them does.
	RefuseChangeAcks atomic.Bool

	mu            sync.Mutex
	services      map[string]stream.Service
	streams       map[*conn]struct{}
	acks          []stream.Ack // each as the key set it left acknowledged
	rawAcks       []stream.Ack
	requestCounts []messages.RequestCount
	connects      int

	inFlight, maxInFlight atomic.Int32
}

type conn struct {
	msgs chan stream.Message
	drop chan struct{}
}

// Start starts a stub with a TLS listener on loopback.
func Start(token string, services ...stream.Service) *Operator {
	o := &Operator{Token: token, Heartbeat: stream.HeartbeatInterval, services: map[string]stream.Service{}, streams: map[*conn]struct{}{}}
	o.RequestCountStatus.Store(http.StatusOK)
	for _, s := range services {
		o.services[s.Key()] = s
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+stream.StreamPath, o.authorized(o.serveStream))
	mux.HandleFunc("POST "+stream.AckPath, o.authorized(o.serveAck))
	mux.HandleFunc("POST "+stream.IncomingRequestPath, o.authorized(o.serveRequestCount))
	o.Server = httptest.NewUnstartedServer(mux)
	o.Server.EnableHTTP2 = true
	o.Server.StartTLS()
	return o
}

// URL is the stub's base URL.
func (o *Operator) URL() string { return o.Server.URL }

// CAPEM is the PEM certificate a client must trust.
func (o *Operator) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.Server.Certificate().Raw})
}

// Close stops the server.
func (o *Operator) Close() {
	o.DropStreams()
	o.Server.Close()
}

func (o *Operator) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+o.Token {
			http.Error(w, `{"message":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

// SetService upserts a service and pushes an update to every connected stream.
func (o *Operator) SetService(s stream.Service) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.services[s.Key()] = s
	o.broadcast(stream.Message{Type: stream.TypeUpdate, Services: []stream.Service{s}})
}

// RemoveService deletes a service and pushes the removal.
func (o *Operator) RemoveService(key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.services, key)
	o.broadcast(stream.Message{Type: stream.TypeUpdate, Removed: []string{key}})
}

func (o *Operator) broadcast(m stream.Message) {
	for c := range o.streams {
		c.msgs <- m
	}
}

// DropStreams closes every connected stream (the sidecar should reconnect).
func (o *Operator) DropStreams() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for c := range o.streams {
		close(c.drop)
		delete(o.streams, c)
	}
}

// Connects is how many streams have been opened.
func (o *Operator) Connects() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.connects
}

// Acks returns the acks received so far, each as the full key set it left acknowledged.
func (o *Operator) Acks() []stream.Ack {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.acks)
}

// RequestCounts returns the RequestCounts received so far.
func (o *Operator) RequestCounts() []messages.RequestCount {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.requestCounts)
}

// MaxInFlight is the largest number of RequestCount requests seen in flight at once.
func (o *Operator) MaxInFlight() int { return int(o.maxInFlight.Load()) }

func (o *Operator) serveStream(w http.ResponseWriter, r *http.Request) {
	c := &conn{msgs: make(chan stream.Message, 1024), drop: make(chan struct{})}
	o.mu.Lock()
	snap := stream.Message{Type: stream.TypeSnapshot}
	for _, s := range o.services {
		snap.Services = append(snap.Services, s)
	}
	o.streams[c] = struct{}{}
	o.connects++
	o.mu.Unlock()

	w.Header().Set("Content-Type", stream.ContentType)
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	rc := http.NewResponseController(w)
	var version uint64
	write := func(m stream.Message) bool {
		if m.Type != stream.TypeHeartbeat {
			version++
		}
		m.Version = version
		return enc.Encode(m) == nil && rc.Flush() == nil
	}
	if !write(snap) {
		return
	}
	hb := time.NewTicker(o.Heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.drop:
			return
		case m := <-c.msgs:
			if !write(m) {
				return
			}
		case <-hb.C:
			if !write(stream.Message{Type: stream.TypeHeartbeat}) {
				return
			}
		}
	}
}

// serveAck records an Ack as the key set it leaves acknowledged (a change Ack applied to the
// previous one), and the Ack as it came (RawAcks).
func (o *Operator) serveAck(w http.ResponseWriter, r *http.Request) {
	var ack stream.Ack
	if err := json.NewDecoder(r.Body).Decode(&ack); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if ack.Change != nil && o.RefuseChangeAcks.Load() {
		http.Error(w, `invalid Ack: json: unknown field "change"`, http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rawAcks = append(o.rawAcks, ack)
	if ack.Change != nil {
		set := map[string]bool{}
		if n := len(o.acks); n > 0 {
			for _, k := range o.acks[n-1].Services {
				set[k] = true
			}
		}
		for _, k := range ack.Change.Added {
			set[k] = true
		}
		for _, k := range ack.Change.Removed {
			delete(set, k)
		}
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		ack = stream.Ack{Version: ack.Version, Services: keys}
	}
	o.acks = append(o.acks, ack)
	w.WriteHeader(http.StatusNoContent)
}

// RawAcks returns the acks received so far as they came (full or change).
func (o *Operator) RawAcks() []stream.Ack {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.rawAcks)
}

func (o *Operator) serveRequestCount(w http.ResponseWriter, r *http.Request) {
	n := o.inFlight.Add(1)
	defer o.inFlight.Add(-1)
	for {
		m := o.maxInFlight.Load()
		if n <= m || o.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	rc, err := messages.DecodeRequestCount(http.MaxBytesReader(w, r.Body, messages.MaxRequestCountBytes))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	time.Sleep(time.Duration(o.RequestCountDelay.Load()))
	o.mu.Lock()
	o.requestCounts = append(o.requestCounts, rc)
	o.mu.Unlock()
	if o.OnRequestCount != nil {
		o.OnRequestCount(rc)
	}
	w.WriteHeader(int(o.RequestCountStatus.Load()))
	_, _ = w.Write([]byte(`{"message":"ok"}`))
}

package registry

// The sidecar's own view of endpoints, on top of the stream's readiness:
//
//	mark       set by                        cleared by                                  effect
//	answering  a successful probe            a refused connection, the stream saying     the endpoint can serve although
//	                                         ready, the endpoint leaving                 the stream says not ready
//	refused    a refused connection          a successful probe, the endpoint leaving    the probe checks the endpoint
//	                                                                                     even if the stream says ready
//
// A request that found every endpoint refusing is held again and skips the endpoints it tried
// (proxy.reholdForget); an answering mark set after the refusal lets it use them again at once.

// MarkAnswering records that the sidecar's own probe found the endpoint ip of service key
// answering (clearing a refused mark), and wakes the service's waiters.
func (r *Registry) MarkAnswering(key, ip string) {
	r.mu.Lock()
	set := r.answering[key]
	if set == nil {
		set = map[string]struct{}{}
		r.answering[key] = set
	}
	_, had := set[ip]
	set[ip] = struct{}{}
	delete(r.refused[key], ip)
	r.mu.Unlock()
	if !had && r.onChange != nil {
		r.onChange([]string{key})
	}
}

// MarkRefused records that a connection to the endpoint ip of service key was refused: its
// answering mark is dropped, and the probe checks it again even when the stream says it is ready.
func (r *Registry) MarkRefused(key, ip string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.answering[key], ip)
	set := r.refused[key]
	if set == nil {
		set = map[string]struct{}{}
		r.refused[key] = set
	}
	set[ip] = struct{}{}
}

// Answering reports whether the probe found the endpoint answering (since its last refusal).
func (r *Registry) Answering(key, ip string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.answering[key][ip]
	return ok
}

// Refused reports whether a connection to the endpoint was refused since its last successful probe.
func (r *Registry) Refused(key, ip string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.refused[key][ip]
	return ok
}

// pruneAnswering drops marks for services and endpoints that are gone, and answering marks for
// endpoints the stream now reports ready (the mark is no longer needed). A refused mark stays
// while the endpoint is listed: the stream saying ready does not mean it answers.
func (r *Registry) pruneAnswering(services map[string]*Service) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prune(r.answering, services, false)
	prune(r.refused, services, true)
}

// prune keeps the marks of listed endpoints (of ready ones too when keepReady).
func prune(marks map[string]map[string]struct{}, services map[string]*Service, keepReady bool) {
	for key, set := range marks {
		s, ok := services[key]
		if !ok {
			delete(marks, key)
			continue
		}
		keep := map[string]struct{}{}
		for _, ep := range s.Endpoints {
			if _, marked := set[ep.IP]; marked && (keepReady || !ep.Ready) {
				keep[ep.IP] = struct{}{}
			}
		}
		marks[key] = keep
	}
}

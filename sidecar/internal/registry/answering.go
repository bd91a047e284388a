package registry

// MarkAnswering records that the sidecar's own probe found the endpoint ip of service key
// answering, and wakes the service's waiters.
func (r *Registry) MarkAnswering(key, ip string) {
	r.mu.Lock()
	set := r.answering[key]
	if set == nil {
		set = map[string]struct{}{}
		r.answering[key] = set
	}
	_, had := set[ip]
	set[ip] = struct{}{}
	r.mu.Unlock()
	if !had && r.onChange != nil {
		r.onChange([]string{key})
	}
}

// ForgetAnswering drops an answering mark, e.g. after a connection to the endpoint was refused.
func (r *Registry) ForgetAnswering(key, ip string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.answering[key], ip)
}

// Answering reports whether the probe found the endpoint answering.
func (r *Registry) Answering(key, ip string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.answering[key][ip]
	return ok
}

// pruneAnswering drops marks for services and endpoints that are gone, and for endpoints the
// stream now reports ready (the mark is no longer needed).
func (r *Registry) pruneAnswering(services map[string]*Service) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, set := range r.answering {
		s, ok := services[key]
		if !ok {
			delete(r.answering, key)
			continue
		}
		keep := map[string]struct{}{}
		for _, ep := range s.Endpoints {
			if _, marked := set[ep.IP]; marked && !ep.Ready {
				keep[ep.IP] = struct{}{}
			}
		}
		r.answering[key] = keep
	}
}

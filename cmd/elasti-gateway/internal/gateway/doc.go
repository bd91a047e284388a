// Package gateway is the demo's reverse proxy. For each request it maps the Host header to a
// Service's cluster DNS name (see Upstream) and forwards the request there with
// httputil.ReverseProxy, streaming bodies (flush after every write) and passing WebSocket upgrades
// through. It refuses hosts that are not in-cluster Service names, so it is not an open proxy.
package gateway

// Package sidecar wires the sidecar together: configuration and flags, the operator stream, the
// registry, the hold queue, the operator client, the prober, the proxy listener (HTTP/1.1 and
// h2c on one port) and the admin listener (/livez, /readyz, /metrics), and the graceful
// shutdown that lets held and in-flight requests finish before the process exits.
//
// cmd/sidecar only parses flags, builds the logger and calls Run.
package sidecar

// Package stuboperator is a stand-in for the operator's elastiserver, for the sidecar's tests
// and black-box harness: a TLS server that speaks pkg/stream (snapshot, updates, heartbeats,
// acks) and accepts RequestCount, checking the bearer token like the real one. It is not part
// of any shipped binary.
package stuboperator

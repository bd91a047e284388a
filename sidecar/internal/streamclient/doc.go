// Package streamclient keeps the sidecar's one long-lived connection to the operator: it GETs
// stream.StreamPath over TLS with the projected token, applies the snapshot and updates it
// reads (newline-delimited JSON stream.Messages) to the registry, POSTs a stream.Ack with the
// sorted keys it knows after every applied message, drops a connection that has been silent for
// three heartbeat intervals, and reconnects with exponential backoff and jitter.
//
// Between connections the last view stays in force: held requests keep waiting and known
// services keep being forwarded; the next connection starts with a snapshot that replaces it.
package streamclient

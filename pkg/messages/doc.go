// Package messages holds the messages exchanged between the resolver sidecar and the operator's
// elastiserver. RequestCount tells the operator that requests for a service are waiting.
//
// Decoding is strict: unknown fields, trailing data, missing or malformed fields are rejected with
// an error that says what was wrong and what is expected, because these bodies arrive over the
// network from callers the operator does not trust until it has checked them.
package messages

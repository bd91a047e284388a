// Package hosts parses the authority a request names (its Host header, HTTP/2 :authority, or a
// header a gateway sets when it rewrites Host) into a normalised host name or IP and an optional
// port. The sidecar uses the result to find the ElastiService a request is for; anything it cannot
// parse is treated as an unknown host, never forwarded.
//
// The input is untrusted, so the parser is strict, allocation-light and fuzzed.
package hosts

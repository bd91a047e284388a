// Package sidecar is the black-box harness of the resolver sidecar: it builds cmd/sidecar, runs
// the binary against a stub operator (sidecar/stuboperator) and a slow-starting target, and
// measures what a user would: no held request lost under 1,000 concurrent requests, and a flat
// resident set while a 1 GiB body streams through. Run it with
//
//	go test -tags blackbox -v -count=1 ./test/blackbox/sidecar/
//
// The tests are behind the blackbox build tag so that `go test ./...` stays fast.
package sidecar

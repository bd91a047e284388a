#!/usr/bin/env bash
# Builds cert-manager (controller, webhook and cainjector in one binary, hack/certmanager/main.go)
# from the pinned github.com/cert-manager/cert-manager module through the Go module proxy into
# $ELASTI_CACHE/cert-manager/<version>/cert-manager: static (CGO_ENABLED=0), version stamped with
# ldflags. Cached: rebuilt only when the binary is missing or an input changed (this script,
# main.go, the version, the Go toolchain, GOARCH). Prints the binary's path on the last line of
# stdout (test/e2e/neighbours.sh reads it); progress goes to stderr.
#
# The release's main packages are nested modules (cert-manager/controller-binary, ...) that the
# module proxy does not serve, so main.go wires the release's control loops itself. It is
# compiled in a throwaway module, $ELASTI_CACHE/cert-manager/<version>/src, recreated by every
# build, whose path lies under github.com/cert-manager/cert-manager/ so that Go allows it to
# import the release's internal packages. Nothing of cert-manager is committed here.
set -euo pipefail

CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-v1.21.2}"
CACHE="${ELASTI_CACHE:-$HOME/.cache/elasti}"
here="$(cd "$(dirname "$0")" && pwd)"
dir="$CACHE/cert-manager/$CERT_MANAGER_VERSION"
bin="$dir/cert-manager"
log() { printf '%s cert-manager %s: %s\n' "$(date -u +%H:%M:%S)" "$CERT_MANAGER_VERSION" "$*" >&2; }

# Never let `go` fetch another toolchain; build with the one installed.
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod
goarch="$(go env GOARCH)"
inputs_sum="$({ cat "$here/build.sh" "$here/main.go"; echo "$CERT_MANAGER_VERSION $(go env GOVERSION) $goarch"; } | sha256sum | cut -d' ' -f1)"
if [ -x "$bin" ] && [ "$(cat "$dir/inputs.sha256" 2>/dev/null)" = "$inputs_sum" ]; then
  log "cached $bin"
  echo "$bin"
  exit 0
fi
if [ -n "${ELASTI_CACHED_ONLY:-}" ]; then
  log "not cached, and ELASTI_CACHED_ONLY is set: not building"
  exit 3
fi

t0=$(date +%s)
rm -rf "$dir/src"
mkdir -p "$dir/src"
cd "$dir/src"
go mod init github.com/cert-manager/cert-manager/elasti-build >/dev/null 2>&1
grep -v '^//go:build ignore' "$here/main.go" >main.go
log "resolving modules"
go get "github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION" >&2
log "building (about 6 minutes on 2 cores the first time)"
nice -n 10 go build -trimpath -o "$bin.tmp" \
  -ldflags "-s -w -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$CERT_MANAGER_VERSION" .
mv "$bin.tmp" "$bin"
echo "$inputs_sum" >"$dir/inputs.sha256"
log "built $bin in $(($(date +%s) - t0))s"
echo "$bin"

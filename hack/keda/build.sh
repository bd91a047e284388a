#!/usr/bin/env bash
# Builds KEDA's operator and metrics API server (cmd/operator, cmd/adapter) from the pinned
# github.com/kedacore/keda/v2 module through the Go module proxy into
# $ELASTI_CACHE/keda/<version>/{keda,keda-adapter}: static (CGO_ENABLED=0), version stamped with
# ldflags. Cached: rebuilt only when a binary is missing or an input changed (this script, the
# version, the Go toolchain, GOARCH). Prints the directory of the binaries on the last line of
# stdout (hack/neighbours.sh reads it); progress goes to stderr.
#
# KEDA's go.mod has a replace directive, which `go install module@version` refuses, so this
# builds a writable copy of the released module (the directory `go mod download -json` names) in
# $ELASTI_CACHE/keda/<version>/work, recreated by every build, unchanged. The admission webhooks
# (cmd/webhooks) are not built: they only validate ScaledObjects (hack/keda/keda.yaml).
set -euo pipefail

KEDA_VERSION="${KEDA_VERSION:-v2.21.0}"
CACHE="${ELASTI_CACHE:-$HOME/.cache/elasti}"
here="$(cd "$(dirname "$0")" && pwd)"
dir="$CACHE/keda/$KEDA_VERSION"
work="$dir/work"
log() { printf '%s keda %s: %s\n' "$(date -u +%H:%M:%S)" "$KEDA_VERSION" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Never let `go` fetch another toolchain; build with the one installed.
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
goarch="$(go env GOARCH)"
inputs_sum="$({ cat "$here/build.sh"; echo "$KEDA_VERSION $(go env GOVERSION) $goarch"; } | sha256sum | cut -d' ' -f1)"
if [ -x "$dir/keda" ] && [ -x "$dir/keda-adapter" ] && [ "$(cat "$dir/inputs.sha256" 2>/dev/null)" = "$inputs_sum" ]; then
  log "cached $dir"
  echo "$dir"
  exit 0
fi
if [ -n "${ELASTI_CACHED_ONLY:-}" ]; then
  log "not cached, and ELASTI_CACHED_ONLY is set: not building"
  exit 3
fi

t0=$(date +%s)
mkdir -p "$dir"
log "downloading the module"
src="$(go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$src" ] || die "go mod download gave no directory for github.com/kedacore/keda/v2@$KEDA_VERSION"
rm -rf "$work"
cp -r "$src" "$work"
chmod -R u+w "$work"
cd "$work"
log "resolving dependencies and building (about 15 minutes on 2 cores the first time)"
pkg=github.com/kedacore/keda/v2/version
# -mod=mod records go.sum entries the released go.sum lacks (downloads are verified against
# the checksum database). One `go build` of both commands compiles their shared packages once.
mkdir -p "$dir/build.tmp"
nice -n 10 go build -mod=mod -trimpath -o "$dir/build.tmp/" \
  -ldflags "-s -w -X $pkg.Version=${KEDA_VERSION#v} -X $pkg.GitCommit=$KEDA_VERSION" \
  ./cmd/operator ./cmd/adapter
mv "$dir/build.tmp/operator" "$dir/keda"
mv "$dir/build.tmp/adapter" "$dir/keda-adapter"
rmdir "$dir/build.tmp"
echo "$inputs_sum" >"$dir/inputs.sha256"
log "built $dir/keda and $dir/keda-adapter in $(($(date +%s) - t0))s"
echo "$dir"

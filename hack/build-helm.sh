#!/usr/bin/env bash
# Builds helm from source through the Go module proxy (module helm.sh/helm/v3 at a pinned release),
# the way hack/build-k8s.sh builds Kubernetes. Output: $ELASTI_CACHE/helm/<version>/bin/helm,
# rebuilt only when missing. The binary is stamped with its version, so `helm version` is honest.
#
# Usage: hack/build-helm.sh        Prints the helm binary's path on the last line of stdout.
# HELM_VERSION overrides the pinned release (hack/helm-version).
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-$(cat "$(dirname "${BASH_SOURCE[0]}")/helm-version")}"
CACHE="${ELASTI_CACHE:-$HOME/.cache/elasti}"
OUT="$CACHE/helm/$HELM_VERSION/bin"
log() { echo "build-helm: $*" >&2; }

if [ -x "$OUT/helm" ]; then
  log "cached: helm $HELM_VERSION in $OUT"
  echo "$OUT/helm"
  exit 0
fi

start=$(date +%s)
work="$CACHE/helm/$HELM_VERSION/mod"
mkdir -p "$work" "$OUT"
export GOFLAGS=-mod=mod CGO_ENABLED=0
cd "$work"
# .ready is written only once the module is complete: an interrupted set-up is redone.
if [ ! -f .ready ]; then
  rm -f go.mod go.sum
  go mod init elasti.local/helm-build >/dev/null 2>&1
  go mod edit -require "helm.sh/helm/v3@$HELM_VERSION"
  touch .ready
fi
log "building helm $HELM_VERSION"
go build -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean -X helm.sh/helm/v3/internal/version.gitCommit=elasti-build-$HELM_VERSION" \
  -o "$OUT/helm.tmp" helm.sh/helm/v3/cmd/helm
mv "$OUT/helm.tmp" "$OUT/helm"
log "built helm $HELM_VERSION in $(( $(date +%s) - start ))s -> $OUT/helm"
echo "$OUT/helm"

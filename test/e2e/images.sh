#!/usr/bin/env bash
# Builds the images only the end-to-end suite needs and loads them into the cluster:
#   elasti/e2e-grpc-echo:$TAG          test/e2e/apps/grpc-echo (gRPC Health over h2c)
#   elasti/e2e-prometheus:v0.313.5     Prometheus built from source by hack/prometheus/build.sh
# Archives go to bin/images-e2e/ (kept apart from bin/images, which `make load-images` owns).
#
# Usage: test/e2e/images.sh build|load|all
#   load imports into the local cluster's containerd, or with KIND_CLUSTER=<name> into kind.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
TAG="${TAG:-v0.1.0-dev}"
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.313.5}"
GOARCH="${GOARCH:-$(go env GOARCH)}"
OUT="$REPO/bin/images-e2e"
BINS="$REPO/bin/linux-$GOARCH"
STATE="${ELASTI_CLUSTER_DIR:-${ELASTI_CACHE:-$HOME/.cache/elasti}/cluster}"
log() { printf '%s e2e-images: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

build() {
  mkdir -p "$OUT" "$BINS"
  go build -o "$REPO/bin/ocipack" ./hack/tools/ocipack
  CGO_ENABLED=0 GOOS=linux GOARCH="$GOARCH" go build -trimpath -ldflags "-s -w" -o "$BINS/e2e-grpc-echo" ./test/e2e/apps/grpc-echo
  "$REPO/bin/ocipack" -binary "$BINS/e2e-grpc-echo" -image "elasti/e2e-grpc-echo:$TAG" -out "$OUT/e2e-grpc-echo.tar" -arch "$GOARCH" -path /grpc-echo >/dev/null
  log "elasti/e2e-grpc-echo:$TAG -> $OUT/e2e-grpc-echo.tar"
  local prom
  prom="$(PROMETHEUS_VERSION="$PROMETHEUS_VERSION" "$REPO/hack/prometheus/build.sh" | tail -1)"
  [ -x "$prom" ] || { log "Prometheus build gave no binary ($prom)"; exit 1; }
  if [ ! -f "$OUT/e2e-prometheus.tar" ] || [ "$prom" -nt "$OUT/e2e-prometheus.tar" ]; then
    "$REPO/bin/ocipack" -binary "$prom" -image "elasti/e2e-prometheus:$PROMETHEUS_VERSION" -out "$OUT/e2e-prometheus.tar" -arch "$GOARCH" -path /prometheus >/dev/null
  fi
  log "elasti/e2e-prometheus:$PROMETHEUS_VERSION -> $OUT/e2e-prometheus.tar"
}

load() {
  local a
  if [ -n "${E2E_SKIP_IMAGE_LOAD:-}" ]; then
    log "E2E_SKIP_IMAGE_LOAD set: the cluster already has the e2e images"
    return 0
  fi
  for a in "$OUT"/e2e-grpc-echo.tar "$OUT"/e2e-prometheus.tar; do
    [ -f "$a" ] || { log "$a missing: run '$0 build'"; exit 1; }
    if [ -n "${KIND_CLUSTER:-}" ]; then
      ${KIND:-kind} load image-archive "$a" --name "$KIND_CLUSTER"
    else
      [ -S "$STATE/containerd/containerd.sock" ] || { log "the local cluster's containerd is not running: make cluster-up"; exit 1; }
      ctr -a "$STATE/containerd/containerd.sock" -n k8s.io images import "$a" | sed 's/^/  /' >&2
    fi
  done
}

cd "$REPO"
case "${1:-all}" in
  build) build ;;
  load) load ;;
  all) build; load ;;
  *) echo "usage: $0 build|load|all" >&2; exit 2 ;;
esac

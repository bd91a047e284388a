#!/usr/bin/env bash
# Builds the images only the end-to-end suite needs and loads them into the cluster:
#   elasti/e2e-grpc-echo:$TAG          test/e2e/apps/grpc-echo (gRPC Health over h2c)
#   elasti/e2e-prometheus:v0.313.5     Prometheus built from source by hack/prometheus/build.sh
#   elasti/e2e-traefik:v3.7.13         Traefik built from source by hack/traefik/build.sh
# The neighbours (cert-manager, KEDA) are not here: the scenarios that need them build, load and
# install them with hack/neighbours.sh, and CI builds them in a time-boxed phase (hack/ci-e2e.sh).
# Archives go to bin/images-e2e/ (kept apart from bin/images, which `make load-images` owns).
#
# Usage: test/e2e/images.sh build|load|all|traefik
#   load imports into the cluster of ELASTI_CLUSTER_PROVIDER (local: its containerd; kind:
#   hack/cluster/kind.sh load);
#   traefik builds and loads only the Traefik image (hack/demo.sh with DEMO_TRAEFIK=1).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
TAG="${TAG:-v0.1.0-dev}"
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.313.5}"
TRAEFIK_VERSION="${TRAEFIK_VERSION:-v3.7.13}"
GOARCH="${GOARCH:-$(go env GOARCH)}"
OUT="$REPO/bin/images-e2e"
BINS="$REPO/bin/linux-$GOARCH"
STATE="${ELASTI_CLUSTER_DIR:-${ELASTI_CACHE:-$HOME/.cache/elasti}/cluster}"
log() { printf '%s e2e-images: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

build_ocipack() {
  mkdir -p "$OUT" "$BINS"
  go build -o "$REPO/bin/ocipack" ./hack/tools/ocipack
}

build() {
  build_ocipack
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
  build_traefik
}

build_traefik() {
  local traefik
  traefik="$(TRAEFIK_VERSION="$TRAEFIK_VERSION" "$REPO/hack/traefik/build.sh" | tail -1)"
  [ -x "$traefik" ] || { log "Traefik build gave no binary ($traefik)"; exit 1; }
  if [ ! -f "$OUT/e2e-traefik.tar" ] || [ "$traefik" -nt "$OUT/e2e-traefik.tar" ]; then
    "$REPO/bin/ocipack" -binary "$traefik" -image "elasti/e2e-traefik:$TRAEFIK_VERSION" -out "$OUT/e2e-traefik.tar" -arch "$GOARCH" -path /traefik >/dev/null
  fi
  log "elasti/e2e-traefik:$TRAEFIK_VERSION -> $OUT/e2e-traefik.tar"
}

# load [ARCHIVE...]: every e2e archive by default.
load() {
  local a archives=("$@")
  if [ -n "${E2E_SKIP_IMAGE_LOAD:-}" ]; then
    log "E2E_SKIP_IMAGE_LOAD set: the cluster already has the e2e images"
    return 0
  fi
  [ ${#archives[@]} -gt 0 ] || archives=(e2e-grpc-echo.tar e2e-prometheus.tar e2e-traefik.tar)
  for a in "${archives[@]/#/$OUT/}"; do
    [ -f "$a" ] || { log "$a missing: run '$0 build'"; exit 1; }
    if [ "$("$REPO/hack/cluster/provider.sh")" = kind ]; then
      "$REPO/hack/cluster/kind.sh" load "$a"
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
  traefik) build_ocipack; build_traefik; load e2e-traefik.tar ;;
  *) echo "usage: $0 build|load|all|traefik" >&2; exit 2 ;;
esac

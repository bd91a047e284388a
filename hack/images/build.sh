#!/usr/bin/env bash
# Builds static linux binaries and packs each as an OCI image archive in bin/images/<name>.tar
# (hack/tools/ocipack, no Docker, no registry). Images are tagged elasti/<name>:$TAG.
#
# Usage: hack/images/build.sh [name...]     (default: every image below)
#   operator webhook sidecar demo-app gateway pause   from ./cmd
#   coredns                                            from hack/coredns/build.sh (tag $COREDNS_VERSION)
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
TAG="${TAG:-v0.1.0-dev}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
GOARCH="${GOARCH:-$(go env GOARCH)}"
OUT="$REPO/bin/images"
BINS="$REPO/bin/linux-$GOARCH"
ALL=(operator webhook sidecar demo-app gateway pause coredns)

# pkg_of NAME: the Go package of an image.
pkg_of() {
  case "$1" in
    operator | webhook | sidecar | pause) echo "./cmd/$1" ;;
    demo-app) echo "./cmd/elasti-demo-app" ;;
    gateway) echo "./cmd/elasti-gateway" ;;
    *) return 1 ;;
  esac
}

pack() {
  local name="$1" binary="$2" ref="$3"; shift 3
  "$REPO/bin/ocipack" -binary "$binary" -image "$ref" -out "$OUT/$name.tar" -arch "$GOARCH" "$@" >/dev/null
  echo "image $ref -> bin/images/$name.tar" >&2
}

build_one() {
  local name="$1" pkg
  if [ "$name" = coredns ]; then
    pack coredns "$(hack/coredns/build.sh)" "elasti/coredns:$COREDNS_VERSION" -path /coredns
    return
  fi
  pkg="$(pkg_of "$name")" || { echo "unknown image $name (known: ${ALL[*]})" >&2; return 2; }
  if [ ! -d "$REPO/${pkg#./}" ]; then
    echo "skipping $name: $pkg does not exist yet" >&2
    return 0
  fi
  CGO_ENABLED=0 GOOS=linux GOARCH="$GOARCH" go build -trimpath -ldflags "-s -w" -o "$BINS/$name" "$pkg"
  local user=()
  [ "$name" = pause ] && user=(-user 65535:65535)
  pack "$name" "$BINS/$name" "elasti/$name:$TAG" -path "/$name" "${user[@]}"
}

cd "$REPO"
mkdir -p "$OUT" "$BINS"
names=("$@")
[ ${#names[@]} -eq 0 ] && names=("${ALL[@]}")
go build -o "$REPO/bin/ocipack" ./hack/tools/ocipack
for n in "${names[@]}"; do build_one "$n"; done

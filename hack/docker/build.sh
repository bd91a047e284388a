#!/usr/bin/env bash
# Builds every Elasti image with Docker (hack/docker/Dockerfile), tagged like `make images`.
# Usage: hack/docker/build.sh [target...]
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG="${TAG:-v0.1.0-dev}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(operator webhook sidecar demo-app gateway pause coredns)
for t in "${targets[@]}"; do
  tag="$TAG"; [ "$t" = coredns ] && tag="$COREDNS_VERSION"
  docker build -f hack/docker/Dockerfile --target "$t" -t "elasti/$t:$tag" .
done

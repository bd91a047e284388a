#!/usr/bin/env bash
# The kind variant of the local cluster, used by up.sh/down.sh/load.sh when a Docker engine answers
# (ELASTI_CLUSTER_PROVIDER=auto, the default) or when ELASTI_CLUSTER_PROVIDER=kind. kind itself is
# built from the sigs.k8s.io/kind module at a pinned version into $ELASTI_CACHE (no kind binary to
# install); the node image and config are pinned in hack/cluster/kind.yaml. The kubeconfig is
# written to the same path as the local cluster's, so install, demo and e2e work unchanged.
#
# NOTE: the development machines of this project have no Docker engine; this path follows kind's
# documented CLI but has not been executed here.
#
# Usage: kind.sh up | down | load ARCHIVE...
set -euo pipefail
. "$(dirname "$0")/lib.sh"
KIND_VERSION="${KIND_VERSION:-v0.33.0}"
KIND_NAME=elasti
KIND="$ELASTI_CACHE/kind/$KIND_VERSION/kind"

kind_bin() {
  [ -x "$KIND" ] || GOBIN="$(dirname "$KIND")" go install "sigs.k8s.io/kind@$KIND_VERSION"
}

up() {
  kind_bin
  mkdir -p "$STATE"
  phase kind-create
  if ! "$KIND" get clusters 2>/dev/null | grep -qx "$KIND_NAME"; then
    "$KIND" create cluster --config "$REPO/hack/cluster/kind.yaml" --wait 120s --kubeconfig "$KUBECONFIG_ADMIN"
  else
    "$KIND" get kubeconfig --name "$KIND_NAME" > "$KUBECONFIG_ADMIN"
  fi
  phases_done
  echo "kind cluster up: export KUBECONFIG=$KUBECONFIG_ADMIN" >&2
  echo "$KUBECONFIG_ADMIN"
}

down() {
  kind_bin
  if "$KIND" get clusters 2>/dev/null | grep -qx "$KIND_NAME"; then
    "$KIND" delete cluster --name "$KIND_NAME" >&2
    echo "kind cluster $KIND_NAME (its node container, network and images)" >&2
  fi
  rm -f "$KUBECONFIG_ADMIN"
}

load() {
  kind_bin
  local a
  for a in "$@"; do "$KIND" load image-archive "$a" --name "$KIND_NAME"; done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  load) shift; load "$@" ;;
  *) echo "usage: $0 up|down|load ARCHIVE..." >&2; exit 2 ;;
esac

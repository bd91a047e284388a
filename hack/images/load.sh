#!/usr/bin/env bash
# Imports the image archives in bin/images into the cluster: the local cluster's containerd
# (namespace k8s.io, where the kubelet looks) or, on the kind provider, `kind load image-archive`.
# Idempotent: importing an image that is already there is a no-op.
# Usage: hack/images/load.sh [name...]   (default: every bin/images/*.tar)
set -euo pipefail
. "$(dirname "$0")/../cluster/lib.sh"

archives=()
if [ $# -eq 0 ]; then
  archives=("$REPO"/bin/images/*.tar)
else
  for n in "$@"; do archives+=("$REPO/bin/images/$n.tar"); done
fi
for a in "${archives[@]}"; do [ -f "$a" ] || die "$a missing: make images"; done
if [ "$(provider)" = kind ]; then
  exec "$REPO/hack/cluster/kind.sh" load "${archives[@]}"
fi
[ -S "$CONTAINERD_SOCK" ] || die "the local cluster's containerd is not running ($CONTAINERD_SOCK): make cluster-up"
for a in "${archives[@]}"; do
  ctr -a "$CONTAINERD_SOCK" -n k8s.io images import "$a" | sed 's/^/  /' >&2
done

# shellcheck shell=bash
# Pinned versions of the kind path (hack/cluster/kind.sh, hack/kind/node-image.sh, hack/e2e-kind.sh).
KIND_VERSION="${KIND_VERSION:-v0.33.0}"
KIND="${KIND:-$ELASTI_CACHE/kind/$KIND_VERSION/kind}"
# containerd 2.x: kind 0.33's node tooling needs it (ctr images import --label, ctr info).
CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.3.4}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.37.0}"

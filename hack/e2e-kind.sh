#!/usr/bin/env bash
# The end-to-end suite on kind: hack/ci-e2e.sh with ELASTI_CLUSTER_PROVIDER=kind. That brings a kind
# cluster up (kind pinned in hack/kind/versions.sh, configured by hack/cluster/kind.yaml; on the
# project's own Docker engine with the node image built from source by hack/kind/node-image.sh),
# builds and loads the images, installs Elasti (self-managed overlay: nothing is fetched from a URL),
# runs the demo and the suite inside the node container (it dials pod IPs and ClusterIPs), prints
# each scenario's result and every skip's reason, takes the cluster down, and checks that the
# host's iptables did not change. See docs/cluster.md ("kind") and docs/e2e.md.
#
# Environment: E2E_RUN (test regexp, default every scenario), E2E_TIMEOUT, ELASTI_KIND_IMAGE
# (built|published|<image>), everything hack/ci-e2e.sh reads.
set -euo pipefail
cd "$(dirname "$0")/.."
export ELASTI_CLUSTER_PROVIDER=kind
exec hack/ci-e2e.sh "$@"

#!/usr/bin/env bash
# Runs the end-to-end suite on kind, for machines with Docker:
#   1. a kind cluster ($KIND_CLUSTER, default elasti-e2e), unless it exists;
#   2. cert-manager from its release manifest, then Elasti's cert-manager overlay;
#   3. Elasti's images and the e2e images loaded with `kind load image-archive`;
#   4. the suite compiled into a test binary and run INSIDE the kind node container, because the
#      suite dials pod IPs and ClusterIPs, which only a node can reach.
# The API-server-restart scenario skips there (it needs the local cluster's pid files); the
# sidecar-restart scenario kills the container through the node's /proc.
#
# NOTE: this script cannot be run on the machines Elasti is developed on (no Docker engine); it
# follows kind's documented commands but has not been executed. hack/ci-e2e.sh is what CI runs.
#
# Environment: KIND (default: kind on PATH, else `go run sigs.k8s.io/kind@$KIND_VERSION`),
# KIND_CLUSTER, CERT_MANAGER_VERSION, E2E_RUN (test regexp), E2E_TIMEOUT, KEEP_CLUSTER=1.
set -euo pipefail
cd "$(dirname "$0")/.."
KIND_CLUSTER="${KIND_CLUSTER:-elasti-e2e}"
KIND_VERSION="${KIND_VERSION:-latest}"
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-v1.21.2}"
E2E_RUN="${E2E_RUN:-.}"
E2E_TIMEOUT="${E2E_TIMEOUT:-45m}"
log() { printf '%s e2e-kind: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then die "no Docker engine answers; use 'make cluster-up' and 'make test-e2e' (hack/ci-e2e.sh) instead"; fi
if [ -z "${KIND:-}" ]; then
  if command -v kind >/dev/null; then KIND=kind; else KIND="go run sigs.k8s.io/kind@$KIND_VERSION"; fi
fi
export KIND KIND_CLUSTER
node="$KIND_CLUSTER-control-plane"
kubeconfig="$(mktemp)"
trap 'rm -f "$kubeconfig"' EXIT

if ! $KIND get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  log "creating kind cluster $KIND_CLUSTER"
  $KIND create cluster --name "$KIND_CLUSTER" --wait 120s
  [ "${KEEP_CLUSTER:-}" = 1 ] || trap 'rm -f "$kubeconfig"; $KIND delete cluster --name "$KIND_CLUSTER"' EXIT
fi
$KIND get kubeconfig --name "$KIND_CLUSTER" > "$kubeconfig"
export KUBECONFIG="$kubeconfig"
k() { kubectl --kubeconfig "$kubeconfig" "$@"; }

log "cert-manager $CERT_MANAGER_VERSION"
k apply -f "https://github.com/cert-manager/cert-manager/releases/download/$CERT_MANAGER_VERSION/cert-manager.yaml"
k -n cert-manager rollout status deployment/cert-manager-webhook --timeout=180s

log "images"
make images
for a in bin/images/*.tar; do $KIND load image-archive "$a" --name "$KIND_CLUSTER"; done
test/e2e/images.sh all

log "installing Elasti (cert-manager overlay)"
make install OVERLAY=cert-manager INSTALL_KUBECONFIG="$kubeconfig"

log "running the suite inside $node"
CGO_ENABLED=0 go test -c -tags e2e -o bin/e2e.test ./test/e2e
docker cp bin/e2e.test "$node:/e2e.test"
docker exec -e KUBECONFIG=/etc/kubernetes/admin.conf -e E2E_REQUIRE=1 "$node" \
  /e2e.test -test.v -test.count=1 -test.timeout "$E2E_TIMEOUT" -test.run "$E2E_RUN"

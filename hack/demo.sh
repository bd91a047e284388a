#!/usr/bin/env bash
# make demo: from nothing to a woken request, with timings (docs/demo.md).
#   1. the cluster (hack/cluster/up.sh: the local cluster, or kind), which installs the Debian
#      packages it needs first (hack/deps/deps.sh);
#   2. images built and loaded (and Traefik's, built from source the first time, unless
#      DEMO_TRAEFIK=0), and the demo's own steps built (hack/tools/demo);
#   3. Elasti installed (self-managed certificates);
#   4-10. hack/tools/demo, run where ClusterIPs answer (hack/cluster/on-node.sh: this machine, or
#      the kind node): namespace elasti-demo opted in, a gateway and the demo app (1 s start-up
#      delay) with its ElastiService; the sidecar shown in the gateway pod; the app scaled to zero
#      BY HAND (no trigger is configured) and woken by a request through the gateway; then the
#      same through Traefik v3 with the external host demo.example.test and an Ingress with no
#      Elasti annotation (Traefik connects to the sidecar port the operator allocated to
#      demo-app's port, which is how the sidecar knows the Service whatever the Host).
#      DEMO_TRAEFIK=0 leaves Traefik out. Every wait of those steps is the e2e framework's.
# Idempotent: a second run reuses the cluster, the images and the install; a Deployment whose
# pods run an elasti/* image older than the runtime's (re-imported under the same tag) is rolled
# out again.
set -euo pipefail
. "$(dirname "$0")/cluster/lib.sh"
NS=elasti-demo
DEMO_TRAEFIK="${DEMO_TRAEFIK:-1}"
TRAEFIK_VERSION="${TRAEFIK_VERSION:-v3.7.13}"
TRAEFIK_NS=elasti-traefik
TRAEFIK_HOST=demo.example.test
# The image hack/tools/demo deploys Traefik with (test/e2e/framework reads E2E_*; on-node.sh
# passes E2E_* into the kind node).
export E2E_TRAEFIK_IMAGE="elasti/e2e-traefik:$TRAEFIK_VERSION"
DEMO_BIN="$REPO/bin/demo"
k() { $KUBECTL "$@"; }
# TIMINGS: the rows of this script's steps, passed on to hack/tools/demo, which prints the table.
TIMINGS=()
ms_since() { echo $(( $(_now_ms) - $1 )); }
secs() { awk -v ms="$1" 'BEGIN{printf "%.3f", ms/1000}'; }
timing() { TIMINGS+=(-timing "$1=$(secs "$2")"); log "$1: $(secs "$2")s"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

# image_ids: -image NAME=ID for each archive in bin/images, ID being what the cluster's runtime
# now has for its tag, as pods report it in their imageID.
image_ids() {
  local a name ids id
  if [ "$(provider)" = kind ]; then
    # Pods on kind report the repo digest `kind load` gave the image ("import-<date>@sha256:...");
    # the node's CRI lists it for the tag the archive carries.
    local node; node="$("$REPO/hack/cluster/kind.sh" node)"
    for a in "$REPO"/bin/images/*.tar; do
      name="$(tar xOf "$a" manifest.json | sed -n 's/.*"RepoTags":\["\([^"]*\)".*/\1/p')"
      ids="$(docker exec "$node" crictl inspecti -o json "docker.io/$name" 2>/dev/null |
        jq -r '.status.repoDigests | join(" ")' 2>/dev/null)" || true
      for id in $ids; do echo "-image"; echo "$(basename "$a" .tar)=$id"; done
    done
  else
    # Imported with ctr, an image has no repo digest: pods report its config digest.
    for a in "$REPO"/bin/images/*.tar; do
      id="$(tar xOf "$a" manifest.json | sed -n 's/.*"Config":"\(sha256:[0-9a-f]*\)".*/\1/p')"
      [ -n "$id" ] && { echo "-image"; echo "$(basename "$a" .tar)=$id"; }
    done
  fi
  return 0
}

setup() {
  local t
  say "1. cluster"
  t=$(_now_ms); "$REPO/hack/cluster/up.sh" >/dev/null; timing "cluster up" "$(ms_since "$t")"
  say "2. images (build + load into the cluster)"
  t=$(_now_ms); "$REPO/hack/images/build.sh"; "$REPO/hack/images/load.sh" 2>/dev/null; timing "images built and loaded" "$(ms_since "$t")"
  if [ "$DEMO_TRAEFIK" = 1 ]; then
    t=$(_now_ms); "$REPO/test/e2e/images.sh" traefik
    timing "Traefik built from source (cached after the first run), packed and loaded" "$(ms_since "$t")"
  fi
  # Static, so that on kind it runs inside the node (hack/cluster/on-node.sh).
  t=$(_now_ms); (cd "$REPO" && CGO_ENABLED=0 go build -o "$DEMO_BIN" ./hack/tools/demo)
  timing "demo steps built (hack/tools/demo)" "$(ms_since "$t")"
  say "3. install Elasti (overlay self-managed)"
  t=$(_now_ms)
  mkdir -p "$REPO/dist"
  k kustomize "$REPO/manifests/overlays/self-managed" > "$REPO/dist/install-self-managed.yaml"
  KUBECTL="$KUBECTL" "$REPO/hack/cluster/install.sh" install "$REPO/dist/install-self-managed.yaml" 2>&1 | grep -v '^Waiting' >&2
  timing "Elasti installed" "$(ms_since "$t")"
}

explore() {
  cat >&2 <<TXT

Explore:
  export KUBECONFIG=$KUBECONFIG_ADMIN
  alias kubectl=$K8S_BIN/kubectl
  kubectl get elastiservices -A
  kubectl -n $NS describe elastiservice demo-app
  kubectl -n $NS get endpointslices -l kubernetes.io/service-name=demo-app
  kubectl -n $NS logs deploy/gateway -c elasti-resolver
  kubectl -n elasti-system logs deploy/elasti-operator
  kubectl -n $NS scale deploy/demo-app --replicas=0     # back to zero, then:
  curl -si -H 'Host: demo-app' http://\$(kubectl -n $NS get svc gateway -o jsonpath='{.spec.clusterIP}')/
  kubectl get --raw /api/v1/namespaces/elasti-system/services/elasti-operator:metrics/proxy/metrics | grep ^elasti_
  make cluster-down                                    # removes everything the cluster created
TXT
  [ "$DEMO_TRAEFIK" = 1 ] || return 0
  cat >&2 <<TXT
Traefik:
  kubectl -n $TRAEFIK_NS logs deploy/traefik -c traefik
  curl -s http://\$(kubectl -n $TRAEFIK_NS get svc traefik -o jsonpath='{.spec.clusterIP}'):9000/api/http/services/$NS-demo-app-80@kubernetes
  curl -si -H 'Host: $TRAEFIK_HOST' http://\$(kubectl -n $TRAEFIK_NS get svc traefik -o jsonpath='{.spec.clusterIP}')/
TXT
}

setup
mapfile -t IMAGES < <(image_ids)
traefik=true; [ "$DEMO_TRAEFIK" = 1 ] || traefik=false
KUBECONFIG="$KUBECONFIG_ADMIN" "$REPO/hack/cluster/on-node.sh" "$DEMO_BIN" -traefik="$traefik" "${TIMINGS[@]}" "${IMAGES[@]}"
explore

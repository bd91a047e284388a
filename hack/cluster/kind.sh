#!/usr/bin/env bash
# The kind provider of the cluster scripts (ELASTI_CLUSTER_PROVIDER=kind, or auto where a Docker
# engine answers; see provider in lib.sh and docs/cluster.md, "kind"). up.sh, down.sh and
# hack/images/load.sh hand over to it.
#
#   up     a Docker engine: the user's (docker info answers, DOCKER_HOST honoured) or else the
#          project's own (hack/kind/dockerd.sh up); kind built from its module at a pinned version;
#          the node image: kind.yaml's published, digest-pinned kindest/node where a registry can
#          be reached, or the one hack/kind/node-image.sh builds from source (the default on the
#          project's own engine, which never contacts a registry); ELASTI_KIND_IMAGE=published|built
#          or an image reference overrides. With the built image: a static bridge CNI on the node's
#          pod range and a Corefile without forward (no query leaves the machine).
#   prepare  kind and the node image only, built and cached (no cluster); the engine it started
#          is stopped again
#   down   kind delete cluster, its Docker network, the kubeconfig; stops the project's Docker
#          engine if that is the one in use (unless ELASTI_KEEP_DOCKERD=1)
#   load   kind load image-archive ARCHIVE...
#   node   print the node container's name
#   corefile  (re)apply the local Corefile below (built image; a cluster made before it changed)
#
# State (kubeconfig, rendered kind config): $ELASTI_CACHE/kind-cluster.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$REPO/hack/kind/versions.sh"
KIND_NAME=elasti
NODE="$KIND_NAME-control-plane"
DOCKERD="$REPO/hack/kind/dockerd.sh"

kind_bin() {
  [ -x "$KIND" ] && return 0
  log "building kind $KIND_VERSION"
  mkdir -p "$ELASTI_CACHE/kind/src/kind-$KIND_VERSION"
  (cd "$ELASTI_CACHE/kind/src/kind-$KIND_VERSION" && { [ -f go.mod ] || go mod init elasti.local/build >/dev/null 2>&1; } &&
    GOFLAGS=-mod=mod go get "sigs.k8s.io/kind@$KIND_VERSION" >&2 && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$KIND" sigs.k8s.io/kind)
}

# engine: makes `docker` reach an engine; starts the project's own where none answers.
engine() {
  if timeout 10 docker info >/dev/null 2>&1; then return 0; fi
  [ -z "${DOCKER_HOST:-}" ] || [ "$DOCKER_HOST" = "$("$DOCKERD" host)" ] || die "DOCKER_HOST=$DOCKER_HOST does not answer"
  "$DOCKERD" up
  export DOCKER_HOST; DOCKER_HOST="$("$DOCKERD" host)"
}
own_engine() { [ "${DOCKER_HOST:-}" = "$("$DOCKERD" host)" ]; }

# node_image: prints the image reference to use ("" = kind.yaml's published image).
node_image() {
  local want="${ELASTI_KIND_IMAGE:-}"
  if [ -z "$want" ]; then if own_engine; then want=built; else want=published; fi; fi
  case "$want" in
    published) echo "" ;;
    built) "$REPO/hack/kind/node-image.sh" node | tail -1 ;;
    *)
      if ! docker image inspect "$want" >/dev/null 2>&1 && own_engine; then
        die "image $want is not in the project's Docker engine, which never pulls"
      fi
      echo "$want" ;;
  esac
}

# render IMAGE: kind.yaml with IMAGE (and no default CNI) when IMAGE is set.
render() {
  local out="$STATE/kind.yaml"
  if [ -z "$1" ]; then cp "$REPO/hack/cluster/kind.yaml" "$out"; else
    sed -e "s#^\(    image: \).*#\1$1#" -e 's#^\(  kubeProxyMode: iptables\)#\1\n  disableDefaultCNI: true#' \
      "$REPO/hack/cluster/kind.yaml" > "$out"
    if ! grep -q "image: $1" "$out" || ! grep -q 'disableDefaultCNI: true' "$out"; then die "could not render $out from kind.yaml"; fi
  fi
  echo "$out"
}

exists() { "$KIND" get clusters 2>/dev/null | grep -qx "$KIND_NAME"; }
k() { $KUBECTL "$@"; }
node_cidr() { k get node "$NODE" -o 'jsonpath={.spec.podCIDR}' 2>/dev/null; }
has_cidr() { [ -n "$(node_cidr)" ]; }
node_ready() { [ "$(k get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }

# static_cni: kindnetd's job for one node: a bridge + host-local conflist on the node's pod range.
static_cni() {
  local cidr; cidr="$(node_cidr)"
  docker exec -i "$NODE" sh -c 'mkdir -p /etc/cni/net.d && cat > /etc/cni/net.d/10-elasti-bridge.conflist' <<JSON
{
  "cniVersion": "1.0.0",
  "name": "elasti",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
}

# local_corefile: the Corefile of the local cluster (hack/cluster/coredns.yaml) instead of
# kubeadm's: no forward and loop, so names outside the cluster fail instead of going upstream, and
# a 5 s cache and TTL instead of 30 s, so that a name looked up just before its Service exists is
# not denied for 30 s (the e2e suite creates Services and resolves them at once).
local_corefile() {
  k -n kube-system create configmap coredns --dry-run=client -o yaml --from-literal=Corefile="$(cat <<'COREFILE'
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 5
    }
    prometheus :9153
    cache 5
    reload
    loadbalance
}
COREFILE
)" | k apply -f - >/dev/null 2>&1
  k -n kube-system rollout restart deployment/coredns >/dev/null
}

up() {
  local image="" cfg
  kind_bin
  engine
  mkdir -p "$STATE"
  if ! exists; then
    phase node-image
    image="$(node_image)"
    cfg="$(render "$image")"
    # kind bind-mounts /lib/modules; this kernel may have none (removed again by down).
    [ -e /lib/modules ] || { mkdir -p /lib/modules && touch "$STATE/lib-modules.ours"; }
    phase kind-create
    if [ -n "$image" ]; then
      "$KIND" create cluster --name "$KIND_NAME" --config "$cfg" --kubeconfig "$KUBECONFIG_ADMIN" >&2
      phase node-ready
      wait_for "node $NODE podCIDR" 60 has_cidr
      static_cni
      local_corefile
    else
      "$KIND" create cluster --name "$KIND_NAME" --config "$cfg" --kubeconfig "$KUBECONFIG_ADMIN" --wait 120s >&2
    fi
  else
    "$KIND" get kubeconfig --name "$KIND_NAME" > "$KUBECONFIG_ADMIN"
  fi
  wait_for "node $NODE Ready" 120 node_ready
  phase coredns
  k -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null
  phases_done
  echo "kind cluster up: export KUBECONFIG=$KUBECONFIG_ADMIN${DOCKER_HOST:+ DOCKER_HOST=$DOCKER_HOST}" >&2
  echo "$KUBECONFIG_ADMIN"
}

down() {
  local t0; t0=$(_now_ms)
  kind_bin
  if timeout 10 docker info >/dev/null 2>&1; then
    if exists; then
      "$KIND" delete cluster --name "$KIND_NAME" >&2
      echo "  kind cluster $KIND_NAME (its node container)" >&2
    fi
    # kind keeps its network; nothing else of ours uses it.
    if docker network inspect kind >/dev/null 2>&1 && [ -z "$(docker network inspect kind -f '{{range .Containers}}x{{end}}')" ]; then
      docker network rm kind >/dev/null && echo "  docker network kind" >&2
    fi
  fi
  rm -f "$KUBECONFIG_ADMIN"
  if [ -f "$STATE/lib-modules.ours" ]; then rmdir /lib/modules 2>/dev/null && echo "  directory /lib/modules" >&2; rm -f "$STATE/lib-modules.ours"; fi
  # The project's own engine goes with the cluster (ELASTI_KEEP_DOCKERD=1 keeps it, e.g. to
  # create the next cluster from the cached node image without restarting it).
  if own_engine && [ -z "${ELASTI_KEEP_DOCKERD:-}" ]; then "$DOCKERD" down; fi
  echo "kind down in $(awk -v ms=$(( $(_now_ms) - t0 )) 'BEGIN{printf "%.1f", ms/1000}')s" >&2
}

# prepare: builds and caches what up needs before it creates a cluster (kind, the node image on
# the project's own engine), for a caller that time-boxes it (.ci/run's kind leg); stops the
# project's engine again if prepare started it. A run stopped half-way keeps every finished step
# in the cache (hack/kind/node-image.sh).
PREPARE_STARTED_ENGINE=""
prepare() {
  kind_bin
  timeout 10 docker info >/dev/null 2>&1 || PREPARE_STARTED_ENGINE=1
  engine
  trap '[ -z "$PREPARE_STARTED_ENGINE" ] || "$DOCKERD" down >&2 || true' EXIT
  trap 'exit 143' TERM INT
  phase node-image
  local image; image="$(node_image)"
  phases_done
  echo "kind prepared: node image ${image:-of kind.yaml (published)}" >&2
}

load() {
  kind_bin
  local a
  for a in "$@"; do "$KIND" load image-archive "$a" --name "$KIND_NAME" >&2; done
}

case "${1:-}" in
  up) up ;;
  prepare) prepare ;;
  down) down ;;
  load) shift; load "$@" ;;
  node) echo "$NODE" ;;
  corefile) local_corefile; k -n kube-system rollout status deployment/coredns --timeout=120s >&2 ;;
  *) echo "usage: $0 up|prepare|down|load ARCHIVE...|node|corefile" >&2; exit 2 ;;
esac

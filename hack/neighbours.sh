#!/usr/bin/env bash
# Builds, loads and installs the neighbours Elasti is tested with: cert-manager and KEDA, built
# from source through the Go module proxy (hack/certmanager/build.sh, hack/keda/build.sh, cached
# under $ELASTI_CACHE), packed as images without a registry (hack/tools/ocipack) and installed
# from manifests derived from each release's own (hack/certmanager/cert-manager.yaml,
# hack/keda/keda.yaml) plus the release's CRDs, read from the Go module cache.
#
#   hack/neighbours.sh build   [cert-manager|keda...]  binaries (cached) and bin/images-e2e/<name>.tar
#   hack/neighbours.sh load    [cert-manager|keda...]  import the archives into the cluster
#   hack/neighbours.sh install [cert-manager|keda...]  CRDs + manifest; waits until it works
#   hack/neighbours.sh uninstall [cert-manager|keda...]
#   hack/neighbours.sh status  [cert-manager|keda...]  exit 0 when installed and ready
# Default: both. Uses $KUBECTL (default: the cached kubectl) and $KUBECONFIG (default: the local
# cluster's).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${ELASTI_CACHE:-$HOME/.cache/elasti}"
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-v1.21.2}"
KEDA_VERSION="${KEDA_VERSION:-v2.21.0}"
K8S_VERSION="${K8S_VERSION:-$(cat "$REPO/hack/k8s-version")}"
KUBECTL="${KUBECTL:-$CACHE/k8s/$K8S_VERSION/bin/kubectl}"
export KUBECONFIG="${KUBECONFIG:-$CACHE/cluster/kubeconfig}"
GOARCH="${GOARCH:-$(go env GOARCH 2>/dev/null || echo amd64)}"
OUT="$REPO/bin/images-e2e"
STATE="${ELASTI_CLUSTER_DIR:-$CACHE/cluster}"
log() { printf '%s neighbours: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
k() { $KUBECTL "$@"; }

# images NAME: "archive image-ref binary-path-in-image" lines of a neighbour.
images() {
  case "$1" in
    cert-manager) echo "cert-manager elasti/cert-manager:$CERT_MANAGER_VERSION /cert-manager" ;;
    keda) echo "keda elasti/keda:$KEDA_VERSION /keda"
      echo "keda-adapter elasti/keda-adapter:$KEDA_VERSION /keda-adapter" ;;
    *) die "unknown neighbour $1 (known: cert-manager, keda)" ;;
  esac
}

build() {
  local name="$1" out archive ref path bin
  mkdir -p "$OUT"
  (cd "$REPO" && go build -o "$REPO/bin/ocipack" ./hack/tools/ocipack)
  case "$name" in
    cert-manager) out="$(CERT_MANAGER_VERSION="$CERT_MANAGER_VERSION" "$REPO/hack/certmanager/build.sh" | tail -1)"; out="$(dirname "$out")" ;;
    keda) out="$(KEDA_VERSION="$KEDA_VERSION" "$REPO/hack/keda/build.sh" | tail -1)" ;;
  esac
  while read -r archive ref path; do
    bin="$out/${path#/}"
    [ -x "$bin" ] || die "the $name build gave no $bin"
    if [ ! -f "$OUT/$archive.tar" ] || [ "$bin" -nt "$OUT/$archive.tar" ]; then
      "$REPO/bin/ocipack" -binary "$bin" -image "$ref" -out "$OUT/$archive.tar" -arch "$GOARCH" -path "$path" >/dev/null
    fi
    log "$ref -> bin/images-e2e/$archive.tar"
  done < <(images "$name")
}

load() {
  local name="$1" archive ref path
  while read -r archive ref path; do
    [ -f "$OUT/$archive.tar" ] || die "$OUT/$archive.tar missing: run '$0 build $name'"
    if [ "$("$REPO/hack/cluster/provider.sh")" = kind ]; then
      "$REPO/hack/cluster/kind.sh" load "$OUT/$archive.tar"
    else
      [ -S "$STATE/containerd/containerd.sock" ] || die "the local cluster's containerd is not running: make cluster-up"
      ctr -a "$STATE/containerd/containerd.sock" -n k8s.io images import "$OUT/$archive.tar" | sed 's/^/  /' >&2
    fi
  done < <(images "$name")
}

# crds NAME: the directory of the release's CRDs in the Go module cache.
crds() {
  local mod version sub dir
  case "$1" in
    cert-manager) mod=github.com/cert-manager/cert-manager version="$CERT_MANAGER_VERSION" sub=deploy/crds ;;
    keda) mod=github.com/kedacore/keda/v2 version="$KEDA_VERSION" sub=config/crd/bases ;;
  esac
  dir="$(cd "$CACHE" && GOFLAGS=-mod=mod GOWORK=off go mod download -json "$mod@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$dir/$sub" ] || die "no $sub in $mod@$version (go mod download gave '$dir')"
  echo "$dir/$sub"
}

manifest() {
  case "$1" in
    cert-manager) sed "s/@VERSION@/$CERT_MANAGER_VERSION/g" "$REPO/hack/certmanager/cert-manager.yaml" ;;
    keda) sed "s/@VERSION@/$KEDA_VERSION/g" "$REPO/hack/keda/keda.yaml" ;;
  esac
}

install() {
  local name="$1" t0 dir; t0=$(date +%s)
  dir="$(crds "$name")"
  k apply --server-side --force-conflicts --field-manager=elasti-neighbours -f "$dir" >/dev/null
  k wait --for=condition=Established -f "$dir" --timeout=60s >/dev/null
  manifest "$name" | k apply --server-side --force-conflicts --field-manager=elasti-neighbours -f - >/dev/null
  log "$name: applied the release's CRDs ($dir) and hack/${name//-/}/$name.yaml; waiting"
  wait_ready "$name"
  log "$name installed and ready in $(( $(date +%s) - t0 ))s"
}

# wait_ready NAME: the Deployments are rolled out and the neighbour does its job.
wait_ready() {
  case "$1" in
    cert-manager)
      for d in cert-manager cert-manager-cainjector cert-manager-webhook; do
        k -n cert-manager rollout status "deployment/$d" --timeout=180s >&2
      done
      # The webhook serves once cainjector wrote its CA into the webhook configurations; a
      # server-side dry-run of an Issuer goes through it.
      for _ in $(seq 1 60); do
        if printf 'apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: probe, namespace: cert-manager}\nspec: {selfSigned: {}}\n' |
          k apply --dry-run=server -f - >/dev/null 2>&1; then return 0; fi
        sleep 1
      done
      die "cert-manager's webhook does not admit an Issuer after 60s" ;;
    keda)
      k -n keda rollout status deployment/keda-operator --timeout=180s >&2
      k -n keda rollout status deployment/keda-metrics-apiserver --timeout=180s >&2
      k wait --for=condition=Available apiservice/v1beta1.external.metrics.k8s.io --timeout=120s >&2 ;;
  esac
}

status() {
  case "$1" in
    cert-manager) k -n cert-manager get deployment cert-manager cert-manager-cainjector cert-manager-webhook >&2 ;;
    keda) k -n keda get deployment keda-operator keda-metrics-apiserver >&2 &&
      k get apiservice v1beta1.external.metrics.k8s.io >&2 ;;
  esac
}

uninstall() {
  local name="$1"
  manifest "$name" | k delete --ignore-not-found --wait=true --timeout=120s -f - >&2
  k delete --ignore-not-found --wait=true --timeout=120s -f "$(crds "$name")" >&2
  log "$name uninstalled"
}

cmd="${1:-}"; shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(cert-manager keda)
case "$cmd" in
  build | load | install | uninstall | status) for n in "${names[@]}"; do "$cmd" "$n"; done ;;
  *) echo "usage: $0 build|load|install|uninstall|status [cert-manager|keda...]" >&2; exit 2 ;;
esac

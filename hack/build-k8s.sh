#!/usr/bin/env bash
# Builds Kubernetes' own binaries (and etcd) from source through the Go module proxy, so that
# integration tests (envtest) and the local cluster run real components without the usual download
# bucket. Output: $ELASTI_CACHE/k8s/<version>/bin. Each binary is rebuilt only when missing.
#
# How: a throwaway module requires k8s.io/kubernetes@<version> and replaces every k8s.io/* staging
# module named in that release's go.mod (there they point at ./staging/...) with its published
# v0.<minor>.<patch>. Binaries are stamped with version ldflags so `kubectl version` is honest.
#
# Usage: hack/build-k8s.sh [component...]   (default: every component below)
# Prints the bin directory on the last line of stdout.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-$(cat "$(dirname "${BASH_SOURCE[0]}")/k8s-version")}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.0}"
CACHE="${ELASTI_CACHE:-$HOME/.cache/elasti}"
OUT="$CACHE/k8s/$K8S_VERSION/bin"
ALL=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kubeadm)
COMPONENTS=("$@")
[ ${#COMPONENTS[@]} -eq 0 ] && COMPONENTS=("${ALL[@]}")

log() { echo "build-k8s: $*" >&2; }
mkdir -p "$OUT"

missing=()
for c in "${COMPONENTS[@]}"; do
  [ -x "$OUT/$c" ] || missing+=("$c")
done
if [ ${#missing[@]} -eq 0 ]; then
  log "cached: ${COMPONENTS[*]} in $OUT"
  echo "$OUT"
  exit 0
fi

start=$(date +%s)
work="$CACHE/k8s/$K8S_VERSION/mod"
mkdir -p "$work"
export GOFLAGS=-mod=mod CGO_ENABLED=0

minor="${K8S_VERSION#v1.}"          # 37.2
staging_version="v0.${minor}"       # v0.37.2
ver_major=1; ver_minor="${minor%%.*}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$ver_major -X $pkg.gitMinor=$ver_minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date -X $pkg.gitCommit=elasti-build-$K8S_VERSION"
done

k8s_targets=()
want_etcd=0
for c in "${missing[@]}"; do
  case "$c" in
    etcd) want_etcd=1 ;;
    kubectl) k8s_targets+=("k8s.io/kubernetes/cmd/kubectl") ;;
    kube-*|kubelet|kubeadm) k8s_targets+=("k8s.io/kubernetes/cmd/$c") ;;
    *) log "unknown component $c"; exit 2 ;;
  esac
done

if [ ${#k8s_targets[@]} -gt 0 ]; then
  mkdir -p "$work/k8s"
  (
    cd "$work/k8s"
    # .ready is written only once the module is complete: an interrupted set-up is redone, not
    # trusted (a go.mod without the replaces would fail every later build).
    if [ ! -f .ready ]; then
      rm -f go.mod go.sum
      go mod init elasti.local/k8s-build >/dev/null 2>&1
      go mod edit -require "k8s.io/kubernetes@$K8S_VERSION"
      gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
      while read -r m; do
        go mod edit -replace "$m=$m@$staging_version"
      done < <(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod")
      touch .ready
    fi
    for t in "${k8s_targets[@]}"; do
      name="$(basename "$t")"
      t0=$(date +%s)
      log "building $name $K8S_VERSION"
      go build -trimpath -ldflags "$ldflags" -o "$OUT/$name.tmp" "$t"
      mv "$OUT/$name.tmp" "$OUT/$name"
      log "built $name in $(( $(date +%s) - t0 ))s"
    done
  )
fi

if [ "$want_etcd" = 1 ]; then
  mkdir -p "$work/etcd"
  (
    cd "$work/etcd"
    if [ ! -f .ready ]; then
      rm -f go.mod go.sum
      go mod init elasti.local/etcd-build >/dev/null 2>&1
      go mod edit -require "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
      touch .ready
    fi
    t0=$(date +%s)
    log "building etcd $ETCD_VERSION"
    go build -trimpath -ldflags "-s -w" -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3
    mv "$OUT/etcd.tmp" "$OUT/etcd"
    log "built etcd in $(( $(date +%s) - t0 ))s"
  )
fi

log "done in $(( $(date +%s) - start ))s: ${missing[*]} -> $OUT"
echo "$OUT"

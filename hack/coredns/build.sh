#!/usr/bin/env bash
# Builds CoreDNS (only the plugins in hack/coredns/main.go, no forward plugin) as a static binary
# inside a throwaway module under $ELASTI_CACHE/coredns/<version>, so that CoreDNS's dependencies
# never enter Elasti's go.mod. Cached: rebuilt only when the binary is missing or main.go changed.
# Prints the binary's path on the last line of stdout.
#
# Usage: hack/coredns/build.sh [kubeadm]
#   kubeadm: the variant with the plugins of kubeadm's Corefile (hack/coredns/kubeadm/main.go), for
#            the locally built kind node image; cached separately.
set -euo pipefail

COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
CACHE="${ELASTI_CACHE:-$HOME/.cache/elasti}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$CACHE/coredns/$COREDNS_VERSION"
main="$here/main.go"
if [ "${1:-}" = kubeadm ]; then
  work="$CACHE/coredns/$COREDNS_VERSION-kubeadm"
  main="$here/kubeadm/main.go"
fi
bin="$work/coredns"
mkdir -p "$work"

# main.go carries "//go:build ignore" in the repository; the copy drops that line.
src_sum="$(sha256sum "$main" | cut -d' ' -f1)"
if [ -x "$bin" ] && [ "$(cat "$work/main.go.sum" 2>/dev/null)" = "$src_sum" ]; then
  echo "coredns: cached $bin" >&2
  echo "$bin"
  exit 0
fi

t0=$(date +%s)
cd "$work"
grep -v '^//go:build ignore' "$main" > main.go
if [ ! -f go.mod ]; then
  go mod init elasti.local/coredns >/dev/null 2>&1
  GOFLAGS=-mod=mod go get "github.com/coredns/coredns@$COREDNS_VERSION" >&2
fi
GOFLAGS=-mod=mod go mod tidy >&2
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
  -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=elasti-build-$COREDNS_VERSION" \
  -o "$bin.tmp" .
mv "$bin.tmp" "$bin"
echo "$src_sum" > "$work/main.go.sum"
echo "coredns: built $COREDNS_VERSION in $(( $(date +%s) - t0 ))s" >&2
echo "$bin"

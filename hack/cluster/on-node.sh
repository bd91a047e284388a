#!/usr/bin/env bash
# Runs a program where the cluster's pod IPs and ClusterIPs answer, as root: on the local cluster
# that is this machine; on kind it is the node container, so the binary (static, CGO_ENABLED=0) is
# copied there and run with `docker exec`. Used by `make test-e2e`, `make bench-e2e` and `make demo`
# (hack/tools/demo).
#
# On kind, KUBECONFIG is the node's admin.conf, E2E_* variables are passed through, and each
# argument that names a path under the repository is replaced by a path in the node; files written
# there are copied back when the program ends (e.g. elasti-bench -json bin/bench.json).
#
# Usage: hack/cluster/on-node.sh BINARY [ARG...]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -ge 1 ] || { echo "usage: $0 BINARY [ARG...]" >&2; exit 2; }
bin="$1"; shift
if [ "$(provider)" = local ]; then
  KUBECONFIG="${KUBECONFIG:-$KUBECONFIG_ADMIN}" exec "$bin" "$@"
fi

node="$("$REPO/hack/cluster/kind.sh" node)"
dir=/elasti-run
docker exec "$node" mkdir -p "$dir/out"
docker cp "$bin" "$node:$dir/$(basename "$bin")"
args=() back=()
for a in "$@"; do
  case "$a" in
    "$REPO"/*) rel="${a#"$REPO"/}"; args+=("$dir/out/$rel"); back+=("$rel"); docker exec "$node" mkdir -p "$dir/out/$(dirname "$rel")" ;;
    *) args+=("$a") ;;
  esac
done
envs=(-e KUBECONFIG=/etc/kubernetes/admin.conf)
while IFS='=' read -r name _; do envs+=(-e "$name"); done < <(env | grep '^E2E_' || true)
rc=0
docker exec -w "$dir" "${envs[@]}" "$node" "$dir/$(basename "$bin")" "${args[@]}" || rc=$?
for rel in "${back[@]}"; do
  if docker cp "$node:$dir/out/$rel" "$REPO/$rel" 2>/dev/null; then log "copied $rel back from the node"; fi
done
exit "$rc"

#!/usr/bin/env bash
# Stops the local cluster and removes everything it created: processes (and containerd shims found
# by this cluster's socket path), mounts under the state directory, network namespaces, iptables and
# ip6tables rules and chains, interfaces; restores the sysctls it changed. Prints what it removed.
# Keeps $STATE (certificates, etcd data, images) unless --purge is given.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(provider)" = kind ] && exec "$(dirname "$0")/kind.sh" down

[ "$(id -u)" = 0 ] || die "needs root"
purge=0; [ "${1:-}" = "--purge" ] && purge=1
[ -d "$STATE" ] || { log "nothing to do: $STATE does not exist"; exit 0; }
mkdir -p "$STATE/run"
exec 9>"$STATE/run/up.lock"
flock -w 60 9 || die "another cluster-up or cluster-down is running"
removed="$STATE/run/removed.txt"
: > "$removed"
say() { echo "$*" >> "$removed"; }

# Pods first, with a short grace, so that the CNI DEL of every sandbox runs while containerd and the
# kubelet are still there.
delete_pods() {
  running kube-apiserver && running kubelet || return 0
  $KUBECTL delete pods --all -A --grace-period=1 --wait=false >/dev/null 2>&1 || return 0
  local i
  for ((i = 0; i < 200; i++)); do
    [ -z "$($KUBECTL get pods -A -o name 2>/dev/null)" ] && break
    [ -z "$(ctr -a "$CONTAINERD_SOCK" -n k8s.io containers ls -q 2>/dev/null)" ] && break
    sleep 0.1
  done
}

stop_shims() {
  local pid cmd
  for pid in /proc/[0-9]*; do
    pid="${pid#/proc/}"
    cmd="$( { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null)" || continue
    case "$cmd" in
      *containerd-shim*"-address $CONTAINERD_SOCK "*)
        kill -KILL "$pid" 2>/dev/null && say "process containerd-shim (pid $pid)" ;;
    esac
  done
}

unmount_all() {
  local m
  # Deepest first.
  while read -r m; do
    umount -l "$m" 2>/dev/null && say "mount $m"
  done < <(awk -v s="$STATE/" '$2 ~ "^"s || $2 ~ "^/run/netns/cni-" || $2 ~ "^/run/containerd/" {print $2}' /proc/self/mounts | sort -r)
}

remove_netns() {
  local ns
  for ns in /run/netns/cni-*; do
    [ -e "$ns" ] || continue
    ip netns delete "$(basename "$ns")" 2>/dev/null || rm -f "$ns"
    say "netns $(basename "$ns")"
  done
}

remove_kube_chains() {
  local cmd table chain
  "$K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1 && say "kube-proxy --cleanup"
  for cmd in iptables ip6tables; do
    for table in filter nat mangle raw; do
      # Jumps into KUBE-*/CNI-* from the built-in chains, then the chains themselves.
      $cmd -w 5 -t "$table" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j (KUBE-|CNI-)' | while read -r rule; do
        eval "$cmd -w 5 -t $table ${rule/-A/-D}" 2>/dev/null
      done
      for chain in $($cmd -w 5 -t "$table" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/ {print $2}'); do
        $cmd -w 5 -t "$table" -F "$chain" 2>/dev/null
      done
      for chain in $($cmd -w 5 -t "$table" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/ {print $2}'); do
        $cmd -w 5 -t "$table" -X "$chain" 2>/dev/null && say "$cmd chain $table/$chain"
      done
    done
  done
}

remove_links() {
  local l
  for l in "$BRIDGE" $(ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^veth'); do
    # Only veths enslaved to our bridge, and the bridge itself.
    if [ "$l" = "$BRIDGE" ] || [ "$(basename "$(readlink "/sys/class/net/$l/master" 2>/dev/null)")" = "$BRIDGE" ]; then
      ip link del "$l" 2>/dev/null && say "interface $l"
    fi
  done
}

restore_host() {
  local key val p
  if [ -f "$STATE/sysctl.orig" ]; then
    while IFS='=' read -r key val; do
      [ "$(sysctl -n "$key" 2>/dev/null)" = "$val" ] && continue
      sysctl -qw "$key=$val" && say "sysctl $key restored to $val"
    done < "$STATE/sysctl.orig"
  fi
  for p in /run/containerd /run/netns /var/lib/cni /var/lib/kubelet; do
    [ -e "$p" ] || continue
    grep -qx "$p" "$STATE/preexisting" 2>/dev/null && continue
    rm -rf "$p" && say "directory $p"
  done
  for p in /sys/fs/cgroup/*/kubepods; do
    [ -d "$p" ] || continue
    grep -qx "$p" "$STATE/preexisting" 2>/dev/null && continue
    find "$p" -depth -type d -exec rmdir {} \; 2>/dev/null
    [ -d "$p" ] || say "cgroup $p"
  done
}

# stopped NAME GRACE_S: stop, and list what it stopped among the removed things.
stopped() { stop "$@" >> "$removed"; }

t0=$(date +%s%3N)
for c in kube-controller-manager kube-scheduler; do stopped "$c" 5; done
delete_pods
for c in kubelet kube-proxy; do stopped "$c" 5; done
stopped containerd 5
stop_shims
stopped kube-apiserver 10
stopped etcd 10
stopped fence-watchdog 2
unmount_all
remove_netns
remove_kube_chains
remove_links
"$REPO/hack/cluster/fence.sh" down >> "$removed"
restore_host
rm -rf "$STATE/run"/*.pid "$STATE/containerd/state" "$STATE/runc"
echo "cluster down in $(awk -v ms=$(( $(date +%s%3N) - t0 )) 'BEGIN{printf "%.1f", ms/1000}')s; removed:" >&2
sed 's/^/  /' "$removed" >&2
if [ "$purge" = 1 ]; then
  rm -rf "$STATE" && echo "  directory $STATE (--purge)" >&2
fi
exit 0

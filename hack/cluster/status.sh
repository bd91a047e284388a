#!/usr/bin/env bash
# Lists what of the local cluster exists on this machine: processes, shims, mounts, network
# namespaces, iptables/ip6tables chains, interfaces, changed sysctls. Exit status 0 when nothing is
# left (after cluster-down), 1 otherwise. Usage: status.sh
set -uo pipefail
. "$(dirname "$0")/lib.sh"
left=0
found() { echo "  $*"; left=1; }

for f in "$STATE"/run/*.pid; do
  [ -f "$f" ] || continue
  n="$(basename "$f" .pid)"; pid="$(cat "$f")"
  alive "$pid" && found "process $n (pid $pid)"
done
for pid in /proc/[0-9]*; do
  pid="${pid#/proc/}"
  cmd="$( { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null)" || continue
  case "$cmd" in *"$STATE/"*) [ "$pid" != $$ ] && alive "$pid" && found "process $pid: ${cmd:0:100}" ;; esac
done
awk -v s="$STATE/" '$2 ~ "^"s || $2 ~ "^/run/netns/cni-" {print "mount " $2}' /proc/self/mounts | while read -r l; do echo "  $l"; done | grep . && left=1
for ns in /run/netns/cni-*; do [ -e "$ns" ] && found "netns $(basename "$ns")"; done
for cmd in iptables ip6tables; do
  for t in filter nat mangle raw; do
    for c in $($cmd -w 5 -t "$t" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-|ELASTI-)/ {print $2}'); do found "$cmd chain $t/$c"; done
  done
done
for l in "$BLACKHOLE_LINK" "$BRIDGE"; do ip link show "$l" >/dev/null 2>&1 && found "interface $l"; done
n="$(ip -o link show type veth 2>/dev/null | grep -c "master $BRIDGE")"; [ "$n" -gt 0 ] && found "$n veth interfaces on $BRIDGE"
if [ -f "$STATE/sysctl.orig" ]; then
  while IFS='=' read -r key val; do
    cur="$(sysctl -n "$key" 2>/dev/null)"
    [ "$cur" = "$val" ] || found "sysctl $key=$cur (was $val)"
  done < "$STATE/sysctl.orig"
fi
if [ "$left" = 0 ]; then echo "nothing of the local cluster is left on this machine"; else exit 1; fi

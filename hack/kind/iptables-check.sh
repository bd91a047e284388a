#!/usr/bin/env bash
# The test that a kind run leaves the host's packet filter as it found it: the project's Docker
# engine runs with --iptables=false --ip6tables=false, and kind and its node change nothing outside
# the node's own network namespace. Compares iptables-save and ip6tables-save (and the IP forwarding
# sysctls) before and after, with packet and byte counters and comments removed.
#
# When the local cluster runs beside kind, its kube-proxy and CNI rewrite their own chains
# (KUBE-*, CNI-*) all the time; those lines are left out of the comparison then, and the script
# says how many.
#
# Usage: hack/kind/iptables-check.sh snapshot FILE   record the current state in FILE
#        hack/kind/iptables-check.sh compare FILE    compare the current state with FILE (exit 1 on
#                                                   a difference, which is printed)
#        hack/kind/iptables-check.sh run CMD...      snapshot, run CMD, compare
set -euo pipefail
. "$(dirname "$0")/../cluster/lib.sh"

local_cluster_runs() {
  local f="${ELASTI_CLUSTER_DIR:-$ELASTI_CACHE/cluster}/run/kube-apiserver.pid" pid
  [ -f "$f" ] && pid="$(cat "$f")" && alive "$pid"
}

state() {
  local cmd
  for cmd in iptables-save ip6tables-save; do
    echo "### $cmd"
    "$cmd" | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]$/[0:0]/'
  done
  echo "### sysctl"
  sysctl net.ipv4.ip_forward net.ipv6.conf.all.forwarding
}

# filtered FILE: FILE without the local cluster's own chains when it runs.
filtered() {
  if local_cluster_runs; then grep -Ev '(KUBE-|CNI-)' "$1"; else cat "$1"; fi
}

snapshot() { state > "$1"; }

compare() {
  local before="$1" now skipped
  now="$(mktemp)"; state > "$now"
  if local_cluster_runs; then
    skipped=$(( $(grep -cE '(KUBE-|CNI-)' "$before") + $(grep -cE '(KUBE-|CNI-)' "$now") ))
    log "iptables-check: the local cluster runs; its KUBE-*/CNI-* lines ($skipped before+after) are not compared"
  fi
  if diff -u <(filtered "$before") <(filtered "$now") > "$now.diff"; then
    log "iptables-check: host iptables, ip6tables and forwarding sysctls unchanged ($(grep -vc '^###' "$before") lines compared)"
    rm -f "$now" "$now.diff"
  else
    log "iptables-check: FAILED: the host's packet filter changed:"
    cat "$now.diff" >&2
    rm -f "$now" "$now.diff"
    return 1
  fi
}

case "${1:-}" in
  snapshot) snapshot "$2" ;;
  compare) compare "$2" ;;
  run)
    shift
    f="$(mktemp)"; snapshot "$f"
    rc=0; "$@" || rc=$?
    compare "$f" || rc=1
    rm -f "$f"; exit "$rc" ;;
  *) echo "usage: $0 snapshot FILE | compare FILE | run CMD..." >&2; exit 2 ;;
esac

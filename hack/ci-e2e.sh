#!/usr/bin/env bash
# End-to-end stage of .ci/run (after `make test`). When this machine can run the local cluster of
# hack/cluster (root, iptables, containerd/runc/CNI from Debian; no Docker needed) it brings the
# cluster up, builds and loads the images, installs Elasti, runs the e2e suite, prints which
# scenarios passed, failed or were skipped (and why), and always takes the cluster down again if it
# started it. Any failure fails CI. Otherwise it prints why the stage is skipped and succeeds.
#
# Budget: about 60 minutes on a fresh machine, plus about 20 for the first Traefik build (Kubernetes,
# CoreDNS, Prometheus and Traefik builds are cached under $ELASTI_CACHE). E2E_TIMEOUT bounds the
# suite itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export ELASTI_CACHE="${ELASTI_CACHE:-$HOME/.cache/elasti}"
STATE="${ELASTI_CLUSTER_DIR:-$ELASTI_CACHE/cluster}"
E2E_TIMEOUT="${E2E_TIMEOUT:-40m}"
start=$(date +%s)
say() { echo "=== ci-e2e: $* ($(( $(date +%s) - start ))s)"; }
skip() { say "SKIPPED: $*"; exit 0; }

# can_run explains, through $why, what is missing for the local cluster.
can_run() {
  why=""
  [ "$(id -u)" = 0 ] || { why="not root (the local cluster needs network namespaces, iptables and mounts)"; return 1; }
  [ -r /proc/sys/net/ipv4/ip_forward ] || { why="no /proc/sys/net (not a full network stack)"; return 1; }
  local pkgs=() t
  for t in containerd runc ctr iptables ip6tables conntrack openssl ip; do command -v "$t" >/dev/null || pkgs+=("$t"); done
  [ -x /usr/lib/cni/bridge ] || pkgs+=(cni-plugins)
  if [ ${#pkgs[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null; then
      say "installing what the local cluster needs (missing: ${pkgs[*]})"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        containerd runc containernetworking-plugins iptables conntrack openssl iproute2 >/dev/null ||
        { why="apt-get could not install containerd, runc, CNI plugins, iptables, conntrack"; return 1; }
    else
      why="missing ${pkgs[*]} and no apt-get to install them"; return 1
    fi
  fi
  iptables -w 5 -S >/dev/null 2>&1 || { why="iptables does not work here ($(iptables -S 2>&1 | head -1))"; return 1; }
  ip netns add elasti-ci-probe 2>/dev/null && ip netns del elasti-ci-probe || { why="cannot create network namespaces"; return 1; }
  return 0
}

can_run || skip "$why"

started=0
if [ -f "$STATE/run/kube-apiserver.pid" ] && kill -0 "$(cat "$STATE/run/kube-apiserver.pid")" 2>/dev/null; then
  say "a local cluster is already running; using it and leaving it up"
else
  started=1
fi
cleanup() {
  local rc=$?
  if [ "$started" = 1 ]; then
    say "cluster-down"
    make cluster-down || rc=1
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM # exit runs the EXIT trap once

say "cluster-up"
make cluster-up
say "images"
make images
say "load-images"
make load-images
say "install"
make install
say "demo (the README's first command: a woken request with its timings)"
hack/demo.sh

say "suite (make test-e2e builds and loads the e2e images first: gRPC echo, Prometheus and Traefik from source)"
log="$(mktemp /tmp/elasti-e2e.XXXXXX.log)"
rc=0
E2E_REQUIRE=1 make test-e2e E2E_TIMEOUT="$E2E_TIMEOUT" 2>&1 | tee "$log" || rc=$?
echo
say "scenarios"
grep -E '^\s*--- (PASS|FAIL|SKIP)' "$log" | sed 's/^\s*//' || true
if grep -q -- '--- SKIP' "$log"; then
  echo "skip reasons:"
  grep -E 'SKIP: ' "$log" | sed 's/^\s*/  /' | sort -u || true
fi
passed=$(grep -cE '^\s*--- PASS' "$log" || true)
failed=$(grep -cE '^\s*--- FAIL' "$log" || true)
skipped=$(grep -cE '^\s*--- SKIP' "$log" || true)
say "passed $passed, failed $failed, skipped $skipped (full log: $log)"
[ "$rc" = 0 ] && [ "$failed" = 0 ] || { say "FAILED"; exit 1; }

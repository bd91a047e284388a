#!/usr/bin/env bash
# End-to-end stage of .ci/run (after `make test`). It brings the cluster of ELASTI_CLUSTER_PROVIDER
# up (local: the cluster of hack/cluster, root, iptables, containerd/runc/CNI from Debian; kind: a
# kind cluster on the project's own Docker engine or the user's, see docs/cluster.md), builds and
# loads the images, installs Elasti, runs the demo and the e2e suite (E2E_RUN selects scenarios),
# and always takes the cluster down again if it started it. On kind it also checks that the host's
# iptables and ip6tables are the same after the run as before (hack/kind/iptables-check.sh). The suite passes only when every scenario `go test -list` finds has passed or
# skipped for a reason on test/e2e/skips.allow (hack/tools/e2esummary, which prints each
# scenario's result and every skip's reason).
#
# A machine that cannot run the local cluster fails this stage, unless ELASTI_E2E_OPTOUT is set
# to the reason this machine is not meant to run it (set by whoever runs CI there; nothing in
# this repository sets it). Either way the last line says the stage's outcome:
#   === ci-e2e: RESULT: PASSED | FAILED: <why> | SKIPPED (ELASTI_E2E_OPTOUT: <reason>)
#
# Budget: with a warm $ELASTI_CACHE about 40 minutes for the full suite on the local cluster; on
# a fresh machine (measured 2026-12-01, README "CI") the first scenario started 49 minutes
# into this stage (cluster binaries and CoreDNS 10 min, images 5, Traefik 20 in the demo,
# Prometheus 7), about 25 more for a kind smoke run with its node image built from source.
# Kubernetes, CoreDNS, Prometheus, Traefik, cert-manager, KEDA and the kind node image are cached
# under $ELASTI_CACHE. The first builds of cert-manager and KEDA (8 and 28 minutes measured at
# nice 19) are time-boxed to what the budget leaves (the neighbours phase below).
# E2E_TIMEOUT bounds the suite itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export ELASTI_CACHE="${ELASTI_CACHE:-$HOME/.cache/elasti}"
STATE="${ELASTI_CLUSTER_DIR:-$ELASTI_CACHE/cluster}"
# Resolved once, so every step drives the same cluster.
export ELASTI_CLUSTER_PROVIDER; ELASTI_CLUSTER_PROVIDER="$(hack/cluster/provider.sh)"
P="$ELASTI_CLUSTER_PROVIDER"
E2E_TIMEOUT="${E2E_TIMEOUT:-55m}"
E2E_RUN="${E2E_RUN:-.}"
start=$(date +%s)
current="start"
say() { current="$1"; echo "=== ci-e2e: $* ($(( $(date +%s) - start ))s)"; }

# The outcome line is printed on every exit, whatever ended the stage.
started=0
result=""
ipt_before=""
finish() {
  local rc=$? failed_step="$current"
  if [ "$started" = 1 ]; then
    say "cluster-down"
    make cluster-down || { [ "$rc" != 0 ] || result="cluster-down failed"; rc=1; }
  fi
  if [ -n "$ipt_before" ]; then
    say "host iptables after the kind run"
    hack/kind/iptables-check.sh compare "$ipt_before" || { [ "$rc" != 0 ] || result="the kind run changed the host's iptables"; rc=1; }
    rm -f "$ipt_before"
  fi
  if [ "$rc" = 0 ] && [ -n "$result" ]; then
    say "RESULT: $result"
  else
    [ "$rc" != 0 ] || { rc=1; result="the stage ended without an outcome"; }
    say "RESULT: FAILED: ${result:-step \"$failed_step\" failed (exit $rc)}"
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM # exit runs the EXIT trap once
fail() { result="$*"; exit 1; }

# can_run explains, through $why, what is missing for the provider's cluster.
can_run() {
  if [ "$P" = kind ]; then can_run_kind; return; fi
  why=""
  [ "$(id -u)" = 0 ] || { why="not root (the local cluster needs network namespaces, iptables and mounts)"; return 1; }
  [ -r /proc/sys/net/ipv4/ip_forward ] || { why="no /proc/sys/net (not a full network stack)"; return 1; }
  # What the local cluster needs from Debian (hack/deps/packages.txt, group cluster).
  hack/deps/deps.sh ensure cluster || { why="Debian packages missing (above)"; return 1; }
  iptables -w 5 -S >/dev/null 2>&1 || { why="iptables does not work here ($(iptables -S 2>&1 | head -1))"; return 1; }
  if ! { ip netns add elasti-ci-probe 2>/dev/null && ip netns del elasti-ci-probe; }; then
    why="cannot create network namespaces"; return 1
  fi
  return 0
}

can_run_kind() {
  why=""
  if timeout 10 docker info >/dev/null 2>&1; then return 0; fi
  [ "$(id -u)" = 0 ] || { why="no Docker engine answers, and starting the project's own needs root"; return 1; }
  # docker.io, debootstrap, jq (hack/deps/packages.txt, group kind).
  hack/deps/deps.sh ensure kind || { why="Debian packages missing (above)"; return 1; }
}

say "provider: $P (ELASTI_CLUSTER_PROVIDER; docs/cluster.md, \"Providers\")"
if [ -n "${ELASTI_E2E_OPTOUT:-}" ]; then
  result="SKIPPED (ELASTI_E2E_OPTOUT: $ELASTI_E2E_OPTOUT)"
  exit 0
fi
can_run || fail "this machine cannot run the $P cluster: $why (where that is expected, set ELASTI_E2E_OPTOUT=<reason>)"

if [ "$P" = local ] && [ -f "$STATE/run/kube-apiserver.pid" ] && kill -0 "$(cat "$STATE/run/kube-apiserver.pid")" 2>/dev/null; then
  say "a local cluster is already running; using it and leaving it up"
elif [ "$P" = kind ] && [ -f "$(hack/cluster/kubeconfig.sh)" ]; then
  say "a kind cluster is already up; using it and leaving it up"
else
  started=1
fi
if [ "$P" = kind ]; then
  ipt_before="$(mktemp /tmp/elasti-iptables.XXXXXX)"
  hack/kind/iptables-check.sh snapshot "$ipt_before"
fi
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

# The neighbours, time-boxed (docs/e2e.md, "Neighbours"): each build gets what is left of the CI
# budget once the suite's expected length is set aside. A build that runs out is stopped (timeout
# kills its process group); the Go build cache keeps what it compiled for the next run, and the
# neighbour's scenarios skip saying so. Cached, each build only packs its image (seconds).
neighbours() {
  local budget=$(( ${ELASTI_CI_BUDGET_MIN:-75} * 60 )) suite=$(( ${E2E_SUITE_MINUTES:-42} * 60 ))
  local ci_start="${ELASTI_CI_START:-$start}" built="" n left t0
  for n in cert-manager keda; do
    left=$(( budget - ($(date +%s) - ci_start) - suite ))
    if [ "$left" -lt 60 ]; then
      # No time to build: only a neighbour already cached (its images packed in seconds) is used.
      if ELASTI_CACHED_ONLY=1 hack/neighbours.sh build "$n"; then
        built="$built $n"
        echo "neighbours: $n cached (${left}s left of the CI budget: it would not have been built)"
      else
        echo "neighbours: $n NOT BUILT: ${left}s left of the CI budget once the suite's ${suite}s are set aside"
      fi
      continue
    fi
    t0=$(date +%s)
    if timeout "$left" hack/neighbours.sh build "$n"; then
      built="$built $n"
      echo "neighbours: $n built in $(( $(date +%s) - t0 ))s"
    else
      echo "neighbours: $n NOT BUILT: its build did not end within the ${left}s left of the CI budget (or failed, above); its scenarios skip"
    fi
  done
  export E2E_NEIGHBOURS_BUILT="${built# }"
  echo "neighbours: E2E_NEIGHBOURS_BUILT='$E2E_NEIGHBOURS_BUILT'"
}
if [ "$P" = local ]; then
  say "neighbours: cert-manager and KEDA from source, time-boxed"
  neighbours
fi

say "scenarios the suite defines (go test -list '$E2E_RUN')"
defined="$(mktemp /tmp/elasti-e2e-defined.XXXXXX)"
go test -tags e2e -list "$E2E_RUN" ./test/e2e/ | tee "$defined"

say "suite (make test-e2e builds and loads the e2e images first: gRPC echo, Prometheus from source)"
log="$(mktemp /tmp/elasti-e2e.XXXXXX.log)"
rc=0
E2E_REQUIRE=1 make test-e2e E2E_RUN="$E2E_RUN" E2E_TIMEOUT="$E2E_TIMEOUT" 2>&1 | tee "$log" || rc=$?
echo
say "scenarios (full log: $log)"
summary=0
go run ./hack/tools/e2esummary -defined "$defined" -allow test/e2e/skips.allow "$log" || summary=$?
[ "$rc" = 0 ] || fail "make test-e2e exited $rc (see the scenarios above and $log)"
[ "$summary" = 0 ] || fail "the e2e summary found problems (listed above)"
result="PASSED on $P (all $(grep -c '^Test' "$defined") scenarios selected by E2E_RUN='$E2E_RUN' passed or skipped as allowed)"

#!/usr/bin/env bash
# The project's own Docker engine, for the kind provider on machines where no Docker engine
# answers (docs/cluster.md, "kind"). It is Debian's docker.io, started so that it cannot disturb
# the host or a local cluster running beside it:
#   - its own data root ($ELASTI_CACHE/docker), exec root, socket and pid file (/run/elasti-docker);
#     it runs its own containerd there, never the host's or the local cluster's
#   - --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false: the host's iptables,
#     ip6tables and forwarding sysctl are left exactly as they were (hack/kind/iptables-check.sh
#     compares them before and after a kind run)
#   - a bridge (172.31.250.1/24) and address pool (172.31.251.0/24) outside the local cluster's pod
#     and Service ranges and the host's network; --dns 127.0.0.1 and HTTP(S)_PROXY pointing at a
#     closed loopback port, so no registry is ever contacted (every image is built here)
#   - runc through hack/kind/runc-wrapper, which drops CAP_SYS_RESOURCE where the VM lacks it
#
# Usage: hack/kind/dockerd.sh up | down | status | host
#   up      start it unless it runs (installs docker.io with hack/deps/deps.sh when dockerd is missing)
#   down    stop it (and its containerd) by pid file, unmount what it left under its roots
#   host    print DOCKER_HOST for it (unix://...)
set -euo pipefail
. "$(dirname "$0")/../cluster/lib.sh"

DOCKER_DATA="${ELASTI_DOCKER_DATA:-$ELASTI_CACHE/docker}"
DOCKER_RUN="${ELASTI_DOCKER_RUN:-/run/elasti-docker}"
DOCKER_SOCK="$DOCKER_RUN/docker.sock"
DOCKER_PID="$DOCKER_RUN/dockerd.pid"
DOCKER_LOG="$DOCKER_DATA/dockerd.log"
DOCKER_BIP="${ELASTI_DOCKER_BIP:-172.31.250.1/24}"
DOCKER_POOL="${ELASTI_DOCKER_POOL:-172.31.251.0/24}"

dlog() { printf '%s dockerd: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

dockerd_pid() {
  local pid
  [ -f "$DOCKER_PID" ] && pid="$(cat "$DOCKER_PID")" && alive "$pid" &&
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v dockerd)")" ] && echo "$pid"
}

up() {
  [ "$(id -u)" = 0 ] || die "the project's Docker engine needs root"
  # docker.io and the rest of hack/deps/packages.txt's group kind.
  "$REPO/hack/deps/deps.sh" ensure kind || die "the packages above are missing"
  if [ -n "$(dockerd_pid)" ]; then dlog "running (pid $(cat "$DOCKER_PID"), DOCKER_HOST=unix://$DOCKER_SOCK)"; return 0; fi
  mkdir -p "$DOCKER_DATA" "$DOCKER_RUN"
  local t0; t0=$(date +%s%3N)
  # setsid: its own session, so a Ctrl-C in the calling shell does not stop it.
  HTTP_PROXY=http://127.0.0.1:1 HTTPS_PROXY=http://127.0.0.1:1 NO_PROXY='' \
    setsid dockerd \
    --data-root "$DOCKER_DATA/data" --exec-root "$DOCKER_RUN/exec" --pidfile "$DOCKER_PID" \
    -H "unix://$DOCKER_SOCK" \
    --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
    --bip "$DOCKER_BIP" --default-address-pool "base=$DOCKER_POOL,size=24" --dns 127.0.0.1 \
    --add-runtime "elasti-runc=$REPO/hack/kind/runc-wrapper" --default-runtime elasti-runc \
    --exec-opt native.cgroupdriver=cgroupfs --log-level warn \
    >>"$DOCKER_LOG" 2>&1 </dev/null 9>&- &
  local i
  for ((i = 0; i < 600; i++)); do
    DOCKER_HOST="unix://$DOCKER_SOCK" docker info >/dev/null 2>&1 && break
    sleep 0.1
  done
  DOCKER_HOST="unix://$DOCKER_SOCK" docker info >/dev/null 2>&1 || { tail -20 "$DOCKER_LOG" >&2; die "dockerd did not answer within 60s (log: $DOCKER_LOG)"; }
  dlog "up in $(awk -v ms=$(( $(date +%s%3N) - t0 )) 'BEGIN{printf "%.1f", ms/1000}')s (pid $(cat "$DOCKER_PID"), DOCKER_HOST=unix://$DOCKER_SOCK, log $DOCKER_LOG)"
}

down() {
  local pid i m
  pid="$(dockerd_pid || true)"
  if [ -n "$pid" ]; then
    # dockerd stops its containers (none should be left: kind.sh down deletes the cluster) and
    # its own containerd on SIGTERM.
    kill -TERM "$pid"
    for ((i = 0; i < 600; i++)); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && { kill -KILL "$pid"; dlog "dockerd (pid $pid) did not stop in 60s: killed"; }
    echo "process dockerd (pid $pid)" >&2
  fi
  while read -r m; do
    [ -n "$m" ] || continue
    if umount -l "$m" 2>/dev/null; then echo "mount $m" >&2; fi
  done < <(awk -v r="$DOCKER_RUN/" -v d="$DOCKER_DATA/" 'index($2, r) == 1 || index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)
  rm -rf "$DOCKER_RUN"
  # dockerd leaves its default bridge behind; remove it when it carries our address.
  if ip -4 -o addr show dev docker0 2>/dev/null | grep -q " ${DOCKER_BIP} "; then
    ip link del docker0 && echo "interface docker0" >&2
  fi
}

status() {
  local pid; pid="$(dockerd_pid || true)"
  if [ -n "$pid" ]; then echo "dockerd running (pid $pid, DOCKER_HOST=unix://$DOCKER_SOCK)"; else echo "dockerd not running"; return 1; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  host) echo "unix://$DOCKER_SOCK" ;;
  *) echo "usage: $0 up|down|status|host" >&2; exit 2 ;;
esac

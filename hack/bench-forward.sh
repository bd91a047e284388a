#!/usr/bin/env bash
# Side-by-side benchmark of the sidecar's forward path and nginx on loopback (make bench-forward;
# docs/benchmarks.md, section "Forward path vs nginx"). Builds the sidecar binary and the driver
# (hack/tools/benchforward), which starts an upstream, the sidecar and nginx, drives both with the
# same load in alternating rounds and writes the figures into docs/benchmarks.md.
#
# nginx: the reference is Debian's nginx. When no nginx binary is found, this installs the
# Debian package `nginx` with apt-get (root needed; nothing else is installed). Its service is
# never started: during the install a policy-rc.d denies service starts unless the machine
# already has one, and the benchmark runs its own nginx master with its own prefix,
# configuration, temp directories, error log and pid file under a temporary directory. A system
# nginx, running or not, is never touched.
#
# Every process the benchmark starts is stopped by its pid (pid files in the work directory),
# also when the driver dies.
#
# Usage: hack/bench-forward.sh [driver flags...]   e.g. -rounds 5 -duration 5s -conns 16
#        BENCH_FORWARD_MARKDOWN=''  to print only (default: docs/benchmarks.md)
#        BENCH_FORWARD_BASE=<git revision>  also measure the sidecar of that revision in the same
#                                           rounds (before/after figures; built from git archive)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
markdown="${BENCH_FORWARD_MARKDOWN-$root/docs/benchmarks.md}"
log() { echo "bench-forward: $*" >&2; }

nginx_bin() { command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }

install_nginx() {
  if [ "$(id -u)" -ne 0 ]; then
    log "nginx is missing and installing it needs root: apt-get install nginx"
    exit 1
  fi
  log "nginx is missing: installing Debian's nginx package (the reference proxy of this benchmark)"
  local policy=/usr/sbin/policy-rc.d added=""
  if [ ! -e "$policy" ]; then
    # Keep the package's postinst from starting a system nginx on port 80.
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx >&2 || {
    log "apt-get install failed; running apt-get update once and retrying"
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx >&2
  }
  [ -n "$added" ] && rm -f "$policy"
  return 0
}

nginx="$(nginx_bin)"
if [ -z "$nginx" ]; then
  install_nginx
  nginx="$(nginx_bin)"
fi
[ -n "$nginx" ] || { log "no nginx binary after installing"; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/elasti-bench-forward.XXXXXX")"
# stop_pidfile stops the process a pid file names, if it is still the one we started (the pid
# was not reused: its executable is the one we ran).
stop_pidfile() {
  local file="$1" exe="$2" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ]; then
    log "stopping $(basename "$file" .pid) (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
}
cleanup() {
  stop_pidfile "$work/driver.pid" "$work/bin/benchforward"
  stop_pidfile "$work/sidecar.pid" "$work/bin/sidecar"
  stop_pidfile "$work/baseline.pid" "$work/bin/sidecar-base"
  stop_pidfile "$work/nginx-master.pid" "$(readlink -f "$nginx")"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cd "$root"
log "building the sidecar and the driver into $work"
CGO_ENABLED=0 go build -trimpath -o "$work/bin/sidecar" ./cmd/sidecar
go build -o "$work/bin/benchforward" ./hack/tools/benchforward

args=(-sidecar "$work/bin/sidecar" -nginx "$nginx" -work "$work")
if [ -n "${BENCH_FORWARD_BASE:-}" ]; then
  rev="$(git rev-parse --short "$BENCH_FORWARD_BASE")"
  log "building the sidecar of $rev as the baseline"
  mkdir -p "$work/base-src"
  git archive "$rev" | tar -x -C "$work/base-src"
  (cd "$work/base-src" && CGO_ENABLED=0 go build -trimpath -o "$work/bin/sidecar-base" ./cmd/sidecar)
  args+=(-baseline "$work/bin/sidecar-base" -baseline-rev "$rev")
fi
[ -n "$markdown" ] && args+=(-markdown "$markdown")
"$work/bin/benchforward" "${args[@]}" "$@" &
echo $! >"$work/driver.pid"
wait $!

#!/usr/bin/env bash
# Proves hack/deps/deps.sh on a machine that has none of the packages: a fresh Debian bookworm
# (debootstrap --variant=minbase, cached as a tarball under $ELASTI_CACHE/deps-chroot) is unpacked
# into a scratch root, this repository's hack/deps is copied in, and, chrooted there:
#   1. as an unprivileged user, `deps.sh ensure GROUP...` must fail and print the apt-get command;
#   2. as root, `deps.sh ensure GROUP...` must install the packages (apt-get update, install);
#   3. `deps.sh check GROUP...` must then pass, and the cluster's tools must run.
# Nothing is installed on this machine; the scratch root and its mounts are removed at the end.
# Needs root and debootstrap, and apt access from the chroot (the host's /etc/resolv.conf).
#
# Usage: hack/deps/chroot-test.sh [GROUP...]   (default: cluster)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${ELASTI_CACHE:-$HOME/.cache/elasti}/deps-chroot"
SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
GROUPS_=("$@"); [ ${#GROUPS_[@]} -gt 0 ] || GROUPS_=(cluster)
log() { printf '%s chroot-test: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts)"
mkdir -p "$CACHE"
tarball="$CACHE/$SUITE-minbase.tar"
if [ ! -f "$tarball" ]; then
  command -v debootstrap >/dev/null || die "debootstrap missing (hack/deps/deps.sh ensure kind installs it)"
  log "debootstrap --variant=minbase $SUITE from $MIRROR (cached as $tarball)"
  tmp="$CACHE/debootstrap.tmp"; rm -rf "$tmp"; mkdir -p "$tmp"
  nice debootstrap --variant=minbase "$SUITE" "$tmp" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 ||
    { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
  tar -C "$tmp" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf "$tmp"
fi

root="$CACHE/root"
cleanup() {
  local m
  for m in dev sys proc; do umount -l "$root/$m" 2>/dev/null || true; done
  rm -rf "$root"
}
trap cleanup EXIT
rm -rf "$root"; mkdir -p "$root"
tar -C "$root" -xf "$tarball"
# A container image's habit, not the user's machine: package scripts start no service here.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"; mount -t sysfs sysfs "$root/sys"; mount --bind /dev "$root/dev"
mkdir -p "$root/elasti/hack"; cp -r "$REPO/hack/deps" "$root/elasti/hack/"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

log "before: deps.sh check ${GROUPS_[*]} in the fresh root"
if in_root bash /elasti/hack/deps/deps.sh check "${GROUPS_[@]}"; then die "the fresh root already has everything: nothing to prove"; fi

log "1. as user nobody: deps.sh ensure ${GROUPS_[*]} (must fail and print the command)"
out="$(in_root setpriv --reuid=65534 --regid=65534 --clear-groups bash /elasti/hack/deps/deps.sh ensure "${GROUPS_[@]}" 2>&1)" &&
  die "ensure succeeded as nobody"
printf '%s\n' "$out" | sed 's/^/    | /' >&2
grep -q "sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends" <<< "$out" || die "no apt-get command printed"

log "2. as root: deps.sh ensure ${GROUPS_[*]} (must install)"
t0=$(date +%s)
in_root bash /elasti/hack/deps/deps.sh ensure "${GROUPS_[@]}" 2>&1 | sed 's/^/    | /' >&2
log "ensure took $(( $(date +%s) - t0 ))s"

log "3. deps.sh check ${GROUPS_[*]} and the tools"
in_root bash /elasti/hack/deps/deps.sh check "${GROUPS_[@]}" || die "check fails after ensure"
if [[ " ${GROUPS_[*]} " == *" cluster "* ]]; then
  in_root bash -c 'containerd --version; runc --version | head -1; ctr --version; iptables --version; git --version;
    openssl version; ip -V; curl --version | head -1; ls /usr/lib/cni | tr "\n" " "; echo' 2>&1 | sed 's/^/    | /' >&2
fi
log "passed: a fresh $SUITE root got what ${GROUPS_[*]} needs from deps.sh alone"

#!/usr/bin/env bash
# Builds a kind node image from source, for machines without registry access (see docs/cluster.md,
# "kind"). Nothing is pulled from a container registry: every image the node needs is built here.
#
#   1. tools     kind, containerd 2.x (containerd, ctr, shim), crictl, built through the Go module
#                proxy; kubeadm, kubelet, kubectl and the control-plane binaries from hack/build-k8s.sh
#   2. base      a Debian root file system (debootstrap minbase + the packages a kind node runs),
#                kind's own base files from the sigs.k8s.io/kind module, containerd and crictl from
#                step 1; `docker import`ed as elasti.local/kind-base:<key>
#   3. images    the component images kubeadm expects (apiserver, controller-manager, scheduler,
#                kube-proxy, etcd, CoreDNS with kubeadm's plugin set, pause) packed with
#                `docker import`, plus stand-ins for the images kind's build would otherwise fetch
#                (kindnetd, local-path-provisioner, its helper: never run, see below), packed into
#                the archives of a Kubernetes server tarball
#   4. node      `kind build node-image --type file` from that tarball on the base image, with a
#                `docker` shim first on PATH that refuses `pull`; then kind's storage and CNI
#                manifests are removed from the image (the cluster gets a static bridge CNI,
#                hack/cluster/kind.sh, and kind's host-path StorageClass fallback)
#
# Each step is cached under $ELASTI_CACHE/kind and keyed by its inputs (versions, this script,
# the binaries it packs): a second run with nothing changed takes seconds. Needs the project's
# Docker engine (hack/cluster/dockerd.sh) or DOCKER_HOST; root for debootstrap.
#
# Usage: hack/kind/node-image.sh [tools|base|images|node]   (default: node, which runs them all)
# Prints the node image's reference on the last line of stdout.
set -euo pipefail
. "$(dirname "$0")/../cluster/lib.sh"
. "$(dirname "$0")/versions.sh"

KCACHE="$ELASTI_CACHE/kind"
TOOLS="$KCACHE/tools"
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What a kind node runs (kind's base image installs the same set, minus NFS/iSCSI and e2fsprogs),
# plus runc and the CNI plugins, which kind's base image builds from source.
BASE_PACKAGES=(systemd systemd-sysv dbus conntrack iptables nftables iproute2 ethtool util-linux
  mount kmod libseccomp2 pigz fuse-overlayfs bash ca-certificates curl jq procps runc
  containernetworking-plugins)
# fn_sum FUNCTION...: a hash of the functions' code, so that a cache key changes when the step
# that produced it changes (and only then).
fn_sum() { declare -f "$@" | sha256sum | cut -c1-12; }

klog() { printf '%s kind-image: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
timed() { local t0 s; t0=$(date +%s); "$@"; s=$(( $(date +%s) - t0 )); klog "$1: ${s}s"; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# gomod_build DIR MODULE@VERSION OUT PKG...: builds PKG... of MODULE into OUT in a throwaway module.
gomod_build() {
  local dir="$1" mod="$2" out="$3" tags="${GO_TAGS:-}"; shift 3
  mkdir -p "$dir" "$out"
  (
    cd "$dir"
    if [ ! -f .ready ]; then
      rm -f go.mod go.sum
      go mod init elasti.local/build >/dev/null 2>&1
      GOFLAGS=-mod=mod go get "$mod" >&2
      touch .ready
    fi
    local p
    for p in "$@"; do
      CGO_ENABLED=0 GOFLAGS=-mod=mod nice go build -trimpath -tags "$tags" -ldflags "${GO_LDFLAGS:--s -w}" \
        -o "$out/$(basename "$p").tmp" "$p"
      mv "$out/$(basename "$p").tmp" "$out/$(basename "$p")"
    done
  )
}

tools() {
  local d
  if [ ! -x "$KIND" ]; then
    klog "building kind $KIND_VERSION"
    gomod_build "$KCACHE/src/kind-$KIND_VERSION" "sigs.k8s.io/kind@$KIND_VERSION" "$(dirname "$KIND")" sigs.k8s.io/kind
  fi
  d="$TOOLS/containerd-$CONTAINERD_VERSION"
  if [ ! -x "$d/containerd-shim-runc-v2" ]; then
    klog "building containerd $CONTAINERD_VERSION"
    GO_TAGS="no_aufs no_zfs no_btrfs no_devmapper" \
      GO_LDFLAGS="-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
      gomod_build "$KCACHE/src/containerd-$CONTAINERD_VERSION" "github.com/containerd/containerd/v2@$CONTAINERD_VERSION" "$d" \
      github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/ctr \
      github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
  fi
  d="$TOOLS/crictl-$CRICTL_VERSION"
  if [ ! -x "$d/crictl" ]; then
    klog "building crictl $CRICTL_VERSION"
    GO_LDFLAGS="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
      gomod_build "$KCACHE/src/cri-tools-$CRICTL_VERSION" "sigs.k8s.io/cri-tools@$CRICTL_VERSION" "$d" sigs.k8s.io/cri-tools/cmd/crictl
  fi
  nice "$REPO/hack/build-k8s.sh" kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy etcd >/dev/null
  nice "$REPO/hack/coredns/build.sh" kubeadm >/dev/null
  mkdir -p "$TOOLS/pause-$TAG"
  (cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$TOOLS/pause-$TAG/pause" ./cmd/pause)
}

# ---------------------------------------------------------------------------------------------
# base image

base_key() {
  echo "$(fn_sum debootstrap_root kind_files runtime_files base) $DEBIAN_SUITE ${BASE_PACKAGES[*]} $KIND_VERSION $CONTAINERD_VERSION $CRICTL_VERSION" | sha256sum | cut -c1-12
}

# in_root ROOT CMD...: runs CMD chrooted into ROOT with /proc, /sys and /dev mounted.
in_root() {
  local root="$1"; shift
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"
}
mount_root() { mount -t proc proc "$1/proc"; mount -t sysfs sysfs "$1/sys"; mount --bind /dev "$1/dev"; }
umount_root() { local m; for m in dev sys proc; do umount -l "$1/$m" 2>/dev/null || true; done; }

# debootstrap_root ROOT: a minbase Debian with BASE_PACKAGES; services never start (policy-rc.d).
debootstrap_root() {
  local root="$1" tarball="$KCACHE/debootstrap-$DEBIAN_SUITE.tar"
  if [ ! -f "$tarball" ]; then
    klog "debootstrap $DEBIAN_SUITE (minbase) from $DEBIAN_MIRROR"
    nice debootstrap --variant=minbase "$DEBIAN_SUITE" "$root" "$DEBIAN_MIRROR" > "$KCACHE/debootstrap.log" 2>&1 ||
      { tail -20 "$KCACHE/debootstrap.log" >&2; die "debootstrap failed (log: $KCACHE/debootstrap.log)"; }
    tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  else
    tar -C "$root" -xf "$tarball"
  fi
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mount_root "$root"
  klog "installing ${#BASE_PACKAGES[@]} packages"
  in_root "$root" apt-get update -qq >&2
  in_root "$root" apt-get install -y -qq --no-install-recommends "${BASE_PACKAGES[@]}" > "$KCACHE/apt.log" 2>&1 ||
    { umount_root "$root"; tail -20 "$KCACHE/apt.log" >&2; die "apt-get install in the base root failed"; }
  in_root "$root" apt-get clean
  umount_root "$root"
  rm -rf "$root/var/lib/apt/lists/"* "$root/usr/sbin/policy-rc.d"
}

# kind_files ROOT: the steps of kind's base image Dockerfile, with kind's own files from its module.
kind_files() {
  local root="$1" files d
  files="$(cd "$KCACHE/src/kind-$KIND_VERSION" && go list -m -f '{{.Dir}}' "sigs.k8s.io/kind")/images/base/files"
  [ -d "$files" ] || die "kind's base files not found in the module cache ($files)"
  install -m 0755 "$files"/usr/local/bin/* "$root/usr/local/bin/"
  mkdir -p "$root/kind" "$root/LICENSES"
  cp -r "$files/kind/." "$root/kind/"
  find "$root/kind" -type f -exec chmod 0644 {} +
  chmod 0755 "$root/kind" "$root/kind/bin" "$root/kind/bin/"*
  for d in etc etc/containerd etc/default etc/sysctl.d etc/systemd/system etc/systemd/system/kubelet.service.d; do
    mkdir -p "$root/$d"
    find "$files/$d" -maxdepth 1 -type f -exec install -m 0644 {} "$root/$d/" \;
  done
  find "$root/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
  rm -f "$root"/lib/systemd/system/multi-user.target.wants/* "$root"/etc/systemd/system/*.wants/* \
    "$root"/lib/systemd/system/local-fs.target.wants/* "$root"/lib/systemd/system/sockets.target.wants/*udev* \
    "$root"/lib/systemd/system/sockets.target.wants/*initctl* "$root"/lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >> "$root/etc/systemd/journald.conf"
  ln -sf /usr/lib/systemd/systemd "$root/sbin/init"
  systemctl --root="$root" enable kubelet.service containerd.service undo-mount-hacks.service >/dev/null 2>&1
  systemctl --root="$root" mask systemd-binfmt.service >/dev/null 2>&1
  mkdir -p "$root/etc/kubernetes/manifests"
}

# runtime_files ROOT: containerd, ctr, shim, crictl, CNI plugins, and the containerd settings this
# project needs: restrict_oom_score_adj (the host may lack CAP_SYS_RESOURCE) and every registry
# pointed at an address that refuses, so that a missing image fails at once instead of being pulled.
runtime_files() {
  local root="$1" c="$TOOLS/containerd-$CONTAINERD_VERSION" p
  install -m 0755 "$c/containerd" "$c/ctr" "$c/containerd-shim-runc-v2" "$TOOLS/crictl-$CRICTL_VERSION/crictl" "$root/usr/local/bin/"
  "$c/ctr" oci spec | jq '.hooks.createContainer += [{"path": "/kind/bin/mount-product-files.sh"}] | del(.process.rlimits)' \
    > "$root/etc/containerd/cri-base.json"
  mkdir -p "$root/opt/cni/bin"
  for p in bridge host-local loopback ptp portmap; do ln -sf "/usr/lib/cni/$p" "$root/opt/cni/bin/$p"; done
  sed -i 's/^\(\s*restrict_oom_score_adj = \)false/\1true/' "$root/etc/containerd/config.toml"
  grep -q 'restrict_oom_score_adj = true' "$root/etc/containerd/config.toml" || die "kind's containerd config changed: restrict_oom_score_adj not found"
  cat >> "$root/etc/containerd/config.toml" <<'TOML'

# Elasti: no registry is ever contacted (hack/kind/node-image.sh).
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
TOML
  mkdir -p "$root/etc/containerd/certs.d/_default"
  printf 'server = "http://127.0.0.1:1"\n\n[host."http://127.0.0.1:1"]\n  capabilities = ["pull", "resolve"]\n' \
    > "$root/etc/containerd/certs.d/_default/hosts.toml"
}

base() {
  BASE_IMAGE="elasti.local/kind-base:$(base_key)"
  have_image "$BASE_IMAGE" && { klog "cached: $BASE_IMAGE"; return 0; }
  local root="$KCACHE/scratch/base-root"
  rm -rf "$root"; mkdir -p "$root"
  trap 'umount_root "'"$root"'"' EXIT
  debootstrap_root "$root"
  kind_files "$root"
  runtime_files "$root"
  klog "importing $BASE_IMAGE"
  tar -C "$root" -c . | docker import - "$BASE_IMAGE-rootfs" >/dev/null
  # docker import cannot set STOPSIGNAL; the classic builder can, from the local image (nothing to
  # pull: FROM names an image that is there).
  printf '%s\n' "FROM $BASE_IMAGE-rootfs" 'ENV container=docker' 'STOPSIGNAL SIGRTMIN+3' \
    'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' | DOCKER_BUILDKIT=0 docker build -q -t "$BASE_IMAGE" - >/dev/null
  docker rmi "$BASE_IMAGE-rootfs" >/dev/null
  trap - EXIT
  # Kept for the kube-proxy image (iptables and conntrack with their libraries).
  rm -rf "$KCACHE/scratch/base-root.keep"; mv "$root" "$KCACHE/scratch/base-root.keep"
}

# ---------------------------------------------------------------------------------------------
# component images

# import_image REF ENTRYPOINT_JSON DIR: a one-layer image of DIR.
import_image() {
  tar -C "$3" --owner=0 --group=0 -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change "ENTRYPOINT $2" - "$1" >/dev/null
}

# rootfs_with DIR BIN...: DIR holds each BIN at /usr/local/bin.
rootfs_with() {
  local dir="$1"; shift
  rm -rf "$dir"; mkdir -p "$dir/usr/local/bin" "$dir/tmp" "$dir/etc"; chmod 1777 "$dir/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\n' > "$dir/etc/passwd"
  printf 'root:x:0:\n' > "$dir/etc/group"
  install -m 0755 "$@" "$dir/usr/local/bin/"
}

# proxy_rootfs DIR: kube-proxy plus iptables/ip6tables (nft and legacy), conntrack and their
# libraries and extensions, taken from the base root.
proxy_rootfs() {
  local dir="$1" root="$KCACHE/scratch/base-root.keep" f lib
  [ -d "$root" ] || die "$root missing: run '$0 base' again (delete $KCACHE/scratch and the base image)"
  rootfs_with "$dir" "$K8S_BIN/kube-proxy"
  # Merged /usr, as in the Debian root the files come from.
  mkdir -p "$dir"/usr/{lib/x86_64-linux-gnu,lib64,sbin,bin}
  for f in lib lib64 sbin bin; do ln -s "usr/$f" "$dir/$f"; done
  cp -a "$root/usr/lib/x86_64-linux-gnu/xtables" "$dir/usr/lib/x86_64-linux-gnu/"
  # The programs, and the libraries of the programs and of the extensions they load at run time.
  local files=(/usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi /usr/sbin/conntrack)
  for f in "${files[@]}"; do mkdir -p "$dir$(dirname "$f")"; cp -a "$root$f" "$dir$f"; done
  for lib in $(chroot "$root" sh -c "ldd ${files[*]} /usr/lib/x86_64-linux-gnu/xtables/*.so" |
    awk '/=>/ {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}' | sort -u); do
    mkdir -p "$dir$(dirname "$lib")"; cp -L "$root$lib" "$dir$lib"
  done
  for f in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf xtables-nft-multi "$dir/usr/sbin/$f"
    ln -sf xtables-nft-multi "$dir/usr/sbin/${f/tables/tables-nft}"
    ln -sf xtables-legacy-multi "$dir/usr/sbin/${f/tables/tables-legacy}"
  done
}

# save_archive OUT REF...: `docker save` with the `repositories` entry first: kind's build reads
# the tags of an archive from whichever of repositories/manifest.json comes first, and
# manifest.json would give it the first image's tags only.
save_archive() {
  local out="$1" tmp; shift
  tmp="$(mktemp -d "$KCACHE/scratch/save.XXXXXX")"
  docker save -o "$tmp/all.tar" "$@"
  mkdir "$tmp/x"; tar -C "$tmp/x" -xf "$tmp/all.tar"
  # docker save drops the docker.io/ of Docker Hub names; kind compares full names.
  jq -c 'with_entries(if (.key | split("/")[0] | test("[.:]")) then . else .key = "docker.io/" + .key end)' \
    "$tmp/x/repositories" > "$tmp/repositories" && mv "$tmp/repositories" "$tmp/x/repositories"
  local rest=() f
  for f in "$tmp/x"/*; do case "${f##*/}" in repositories | manifest.json) ;; *) rest+=("${f##*/}") ;; esac; done
  tar -C "$tmp/x" -cf "$out" repositories manifest.json "${rest[@]}"
  rm -rf "$tmp"
}

images_key() {
  {
    echo "$(fn_sum import_image rootfs_with proxy_rootfs save_archive images kind_standins) $K8S_VERSION $TAG $COREDNS_VERSION"
    sha256sum "$K8S_BIN"/{kubeadm,kubelet,kubectl,kube-apiserver,kube-controller-manager,kube-scheduler,kube-proxy,etcd} \
      "$ELASTI_CACHE/coredns/$COREDNS_VERSION-kubeadm/coredns" "$TOOLS/pause-$TAG/pause" | cut -d' ' -f1
  } | sha256sum | cut -c1-12
}

images() {
  local key out work want ref c pause_ref
  key="$(images_key)"
  out="$KCACHE/server/$K8S_VERSION-$key/kubernetes-server-linux-amd64.tar.gz"
  [ -f "$out" ] && { klog "cached: $out"; echo "$out"; return 0; }
  work="$KCACHE/scratch/server"; rm -rf "$work"; mkdir -p "$work/kubernetes/server/bin" "$KCACHE/scratch"
  local bin="$work/kubernetes/server/bin"
  echo "$K8S_VERSION" > "$work/kubernetes/version"
  install -m 0755 "$K8S_BIN"/{kubeadm,kubelet,kubectl} "$bin/"
  # The names kubeadm expects (it pulls nothing itself: kind pre-loads them).
  mapfile -t want < <("$K8S_BIN/kubeadm" config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null)
  [ ${#want[@]} -ge 6 ] || die "kubeadm config images list gave: ${want[*]}"
  local extra=()
  for ref in "${want[@]}"; do
    case "$ref" in
      */kube-apiserver:* | */kube-controller-manager:* | */kube-scheduler:*)
        c="$(basename "${ref%%:*}")"; rootfs_with "$work/$c" "$K8S_BIN/$c"; import_image "$ref" "[\"/usr/local/bin/$c\"]" "$work/$c" ;;
      */kube-proxy:*) proxy_rootfs "$work/kube-proxy"; import_image "$ref" '["/usr/local/bin/kube-proxy"]' "$work/kube-proxy" ;;
      */etcd:*) rootfs_with "$work/etcd" "$K8S_BIN/etcd"; import_image "$ref" '["/usr/local/bin/etcd"]' "$work/etcd"; extra+=("$ref") ;;
      */coredns:*)
        rm -rf "$work/coredns"; mkdir -p "$work/coredns"; install -m 0755 "$ELASTI_CACHE/coredns/$COREDNS_VERSION-kubeadm/coredns" "$work/coredns/coredns"
        import_image "$ref" '["/coredns"]' "$work/coredns"; extra+=("$ref") ;;
      */pause:*) ;; # kind uses the sandbox image of its containerd config instead (below)
      *) die "kubeadm expects an image this script does not build: $ref" ;;
    esac
  done
  # The sandbox image of kind's containerd config, and stand-ins for the images kind's build
  # fetches for its default CNI and storage (kindnetd is not served by the module proxy, and
  # hack/cluster/kind.sh disables both): the pause binary under their names, never run.
  rm -rf "$work/pause"; mkdir -p "$work/pause"; install -m 0755 "$TOOLS/pause-$TAG/pause" "$work/pause/pause"
  pause_ref="$(sed -n 's/^\s*sandbox_image = "\(.*\)"/\1/p' "$KCACHE/scratch/base-root.keep/etc/containerd/config.toml")"
  [ -n "$pause_ref" ] || die "no sandbox_image in kind's containerd config"
  for ref in "$pause_ref" $(kind_standins); do import_image "$ref" '["/pause"]' "$work/pause"; extra+=("$ref"); done
  for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
    ref="$(printf '%s\n' "${want[@]}" | grep "/$c:")"
    if [ "$c" = kube-apiserver ]; then save_archive "$bin/$c.tar" "$ref" "${extra[@]}"; else save_archive "$bin/$c.tar" "$ref"; fi
  done
  # They live on in the archives; the engine need not keep them.
  docker rmi "${want[@]}" "${extra[@]}" >/dev/null 2>&1 || true
  mkdir -p "$(dirname "$out")"
  klog "packing $(basename "$out")"
  tar -C "$work" -cf - kubernetes | nice gzip -1 > "$out.tmp" && mv "$out.tmp" "$out"
  rm -rf "$work"
  echo "$out"
}

# kind_standins: the images kind's node build fetches for its default CNI and storage.
kind_standins() {
  local dir
  dir="$(cd "$KCACHE/src/kind-$KIND_VERSION" && go list -m -f '{{.Dir}}' sigs.k8s.io/kind)/pkg/build/nodeimage"
  sed -n 's/^const \(kindnetdImage\|storageProvisionerImage\|storageHelperImage\) = "\(.*\)"/\2/p' "$dir"/const_*.go
}

# ---------------------------------------------------------------------------------------------
# node image

# prune REPOSITORY KEEP: removes the other tags of REPOSITORY (earlier builds) from the engine.
prune() {
  local r
  for r in $(docker images --format '{{.Repository}}:{{.Tag}}' "$1"); do
    [ "$r" = "$2" ] || docker rmi "$r" >/dev/null 2>&1 || true
  done
}

node() {
  local server key ref shim cid
  tools
  base
  server="$(images | tail -1)"
  key="$(echo "$BASE_IMAGE $server $(fn_sum node)" | sha256sum | cut -c1-12)"
  ref="elasti.local/kind-node:$K8S_VERSION-$key"
  if have_image "$ref"; then klog "cached: $ref"; echo "$ref"; return 0; fi
  # kind's build always tries `docker pull` of the base image first; this shim refuses every pull
  # (the base image is local) and passes everything else to the real client.
  shim="$KCACHE/scratch/docker-shim"; mkdir -p "$shim"
  cat > "$shim/docker" <<SH
#!/bin/sh
[ "\$1" = pull ] && { echo "docker pull refused (no registry; hack/kind/node-image.sh)" >&2; exit 1; }
exec $(command -v docker) "\$@"
SH
  chmod 755 "$shim/docker"
  klog "kind build node-image $ref"
  PATH="$shim:$PATH" nice "$KIND" build node-image --type file --base-image "$BASE_IMAGE" --image "$ref.build" "$server" >&2
  # Drop kind's storage and CNI manifests: their images are stand-ins.
  cid="$(docker create --entrypoint /bin/rm "$ref.build" -f /kind/manifests/default-storage.yaml /kind/manifests/default-cni.yaml)"
  docker start -a "$cid" >/dev/null
  docker commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' "$cid" "$ref" >/dev/null
  docker rm "$cid" >/dev/null
  docker rmi "$ref.build" >/dev/null
  prune elasti.local/kind-node "$ref"
  prune elasti.local/kind-base "$BASE_IMAGE"
  docker image prune -f >/dev/null # untagged leftovers of interrupted builds
  echo "$ref"
}

case "${1:-node}" in
  tools) timed tools ;;
  base) tools; timed base ;;
  images) tools; base; images ;;
  node) node ;;
  *) echo "usage: $0 [tools|base|images|node]" >&2; exit 2 ;;
esac

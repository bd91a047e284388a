# shellcheck shell=bash disable=SC2034 # the settings below are read by the scripts that source this file
# Shared settings and helpers of the local cluster scripts (up.sh, down.sh, fence.sh, status.sh).
# Everything the cluster writes lives under $STATE; see docs/cluster.md.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ELASTI_CACHE="${ELASTI_CACHE:-$HOME/.cache/elasti}"
K8S_VERSION="${K8S_VERSION:-$(cat "$REPO/hack/k8s-version")}"
K8S_BIN="${K8S_BIN:-$ELASTI_CACHE/k8s/$K8S_VERSION/bin}"
STATE="${ELASTI_CLUSTER_DIR:-$ELASTI_CACHE/cluster}"
TAG="${TAG:-v0.1.0-dev}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"

NODE_NAME="elasti-node"
CLUSTER_DOMAIN="cluster.local"
POD_CIDR_ALL="10.244.0.0/16"
SERVICE_CIDR="10.96.0.0/16"
API_SERVICE_IP="10.96.0.1"
DNS_SERVICE_IP="10.96.0.10"
APISERVER_PORT=6443
KUBELET_PORT=10250
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800
# The blackhole interface: owns the Service and pod CIDR routes so that an address nothing answers
# for never falls through to the default route. (The kernel has no dummy driver; ifb works.)
BLACKHOLE_LINK="elasti-bh0"
BRIDGE="cni0"
SANDBOX_IMAGE="docker.io/elasti/pause:$TAG"
COREDNS_IMAGE="docker.io/elasti/coredns:$COREDNS_VERSION"

CONTAINERD_SOCK="$STATE/containerd/containerd.sock"
KUBECONFIG_ADMIN="$STATE/kubeconfig"
KUBECTL="$K8S_BIN/kubectl --kubeconfig=$KUBECONFIG_ADMIN"
# Private ranges nothing of ours may reach through the default-route interface.
PRIVATE_V4=(10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 100.64.0.0/10 169.254.0.0/16 198.18.0.0/15)
PRIVATE_V6=(fc00::/7)

log() { printf '%s cluster: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# default_iface / node_ip: the interface of the default route and its first IPv4 address.
default_iface() { ip -4 route show default | awk '{for (i=1;i<NF;i++) if ($i=="dev") {print $(i+1); exit}}'; }
node_ip() { ip -4 -o addr show dev "$(default_iface)" | awk '{split($4,a,"/"); print a[1]; exit}'; }
# resolvers: the host's IPv4 nameservers (host-sourced DNS to them stays allowed by the fence).
resolvers() { awk '$1=="nameserver" && $2 ~ /^[0-9.]+$/ {print $2}' /etc/resolv.conf; }

# Phase timing: phase NAME starts a phase and closes the previous one; phases_done prints the table.
PHASES=()
_phase_name=""; _phase_t0=0
_now_ms() { date +%s%3N; }
phase() {
  local now; now=$(_now_ms)
  if [ -n "$_phase_name" ]; then PHASES+=("$_phase_name $(( now - _phase_t0 ))"); fi
  _phase_name="$1"; _phase_t0=$now
  [ -n "$1" ] && log "phase: $1"
  return 0
}
phases_done() {
  phase ""
  local total=0 p name ms
  printf '%-22s %9s\n' "phase" "seconds" >&2
  for p in "${PHASES[@]}"; do
    read -r name ms <<< "$p"
    printf '%-22s %9.3f\n' "$name" "$(awk -v ms="$ms" 'BEGIN{print ms/1000}')" >&2
    total=$(( total + ms ))
  done
  printf '%-22s %9.3f\n' "total" "$(awk -v ms="$total" 'BEGIN{print ms/1000}')" >&2
}

# Processes: each has $STATE/run/NAME.pid and $STATE/logs/NAME.log.
pidfile() { echo "$STATE/run/$1.pid"; }
# alive PID: running and not a zombie (re-parented children are reaped late).
alive() {
  local pid="$1"
  [ -n "$pid" ] && [ -r "/proc/$pid/status" ] || return 1
  ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}
# ours NAME PID: PID still runs the command start() recorded for NAME (a pid file left by a crash
# may name a recycled PID; never signal someone else's process).
# A script started by start() shows its interpreter first, hence the first two arguments.
# (Pid files written before .cmd files existed are trusted.)
ours() {
  local want
  [ -f "$STATE/run/$1.cmd" ] || return 0
  want="$(cat "$STATE/run/$1.cmd")"
  local argv=()
  # Read the first two arguments without a pipe: under pipefail, "tr | head" fails with SIGPIPE
  # on a long command line and a live process would look like someone else's.
  mapfile -d '' -n 2 argv < "/proc/$2/cmdline" 2>/dev/null || return 1
  [ "${argv[0]:-}" = "$want" ] || [ "${argv[1]:-}" = "$want" ]
}
running() { local f pid; f="$(pidfile "$1")"; [ -f "$f" ] && pid="$(cat "$f")" && alive "$pid" && ours "$1" "$pid"; }

# start NAME CMD...: starts CMD in its own session unless NAME already runs.
start() {
  local name="$1"; shift
  if running "$name"; then log "$name already running (pid $(cat "$(pidfile "$name")"))"; return 0; fi
  mkdir -p "$STATE/run" "$STATE/logs"
  setsid "$@" >>"$STATE/logs/$name.log" 2>&1 < /dev/null 9>&- &
  echo $! > "$(pidfile "$name")"
  echo "$1" > "$STATE/run/$name.cmd"
  log "started $name (pid $!, log $STATE/logs/$name.log)"
}

# stop NAME [TIMEOUT_S]: TERM, then KILL after the timeout; removes the pid file.
stop() {
  local name="$1" timeout="${2:-10}" f pid i
  f="$(pidfile "$name")"
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if alive "$pid" && ours "$name" "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 20; i++)); do alive "$pid" || break; sleep 0.05; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.1; fi
    echo "process $name (pid $pid)"
  fi
  rm -f "$f" "$STATE/run/$name.cmd"
}

# wait_for DESCRIPTION TIMEOUT_S CMD...: polls CMD every 50 ms until it succeeds or TIMEOUT_S of
# wall-clock time have passed.
wait_for() {
  local what="$1" deadline=$(( $(date +%s%3N) + $2 * 1000 )); shift 2
  while [ "$(date +%s%3N)" -lt "$deadline" ]; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.05
  done
  die "timed out waiting for $what (process logs: $STATE/logs/)"
}

kubectl_() { $KUBECTL "$@"; }

# provider: which cluster the scripts drive (docs/cluster.md, "Providers"):
#   ELASTI_CLUSTER_PROVIDER=local  the cluster from Kubernetes' own binaries (hack/cluster/up.sh)
#   ELASTI_CLUSTER_PROVIDER=kind   a kind cluster (hack/cluster/kind.sh); where no Docker engine
#                                  answers, the project starts its own (hack/kind/dockerd.sh)
#   auto (unset, the default)      local when the local cluster runs; else kind when a Docker
#                                  engine of the user's answers (docker info, DOCKER_HOST honoured);
#                                  else local. The project's own Docker engine never makes auto
#                                  choose kind: set ELASTI_CLUSTER_PROVIDER=kind for it.
provider() {
  case "${ELASTI_CLUSTER_PROVIDER:-auto}" in
    kind | local) echo "${ELASTI_CLUSTER_PROVIDER}" ;;
    auto)
      local apid f="${ELASTI_CLUSTER_DIR:-$ELASTI_CACHE/cluster}/run/kube-apiserver.pid"
      if [ -f "$f" ] && apid="$(cat "$f")" && alive "$apid"; then echo local
      elif [ "${DOCKER_HOST:-}" != "unix://${ELASTI_DOCKER_RUN:-/run/elasti-docker}/docker.sock" ] &&
        command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1; then echo kind
      else echo local; fi ;;
    *) die "ELASTI_CLUSTER_PROVIDER must be auto, local or kind" ;;
  esac
}

# The kind provider keeps its kubeconfig apart from the local cluster's; install, demo, load and
# e2e find it through $KUBECONFIG_ADMIN (hack/cluster/kubeconfig.sh prints it).
if [ "$(provider)" = kind ]; then
  STATE="${ELASTI_KIND_DIR:-$ELASTI_CACHE/kind-cluster}"
  KUBECONFIG_ADMIN="$STATE/kubeconfig"
  KUBECTL="$K8S_BIN/kubectl --kubeconfig=$KUBECONFIG_ADMIN"
  # The project's own Docker engine, when it runs and no other is named.
  if [ -z "${DOCKER_HOST:-}" ] && [ -S "${ELASTI_DOCKER_RUN:-/run/elasti-docker}/docker.sock" ]; then
    export DOCKER_HOST="unix://${ELASTI_DOCKER_RUN:-/run/elasti-docker}/docker.sock"
  fi
fi

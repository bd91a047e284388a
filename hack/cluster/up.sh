#!/usr/bin/env bash
# Starts (or completes) the local single-node cluster from Kubernetes' own binaries: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, containerd + runc, kubelet, kube-proxy,
# CNI bridge, CoreDNS. Idempotent: what already runs is kept. The network fence goes up first.
# Prints the kubeconfig path and how long each phase took. See docs/cluster.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(provider)" = kind ] && exec "$(dirname "$0")/kind.sh" up
. "$(dirname "$0")/pki.sh"
. "$(dirname "$0")/config.sh"

# The Debian packages of hack/deps/packages.txt (group cluster): installed when this runs as root
# with apt-get, else the one command to run is printed.
"$REPO/hack/deps/deps.sh" ensure cluster || die "the packages above are missing"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, iptables, mounts)"
mkdir -p "$STATE/run" "$STATE/logs"
exec 9>"$STATE/run/up.lock"
flock -n 9 || die "another cluster-up or cluster-down is running"

# Things outside $STATE that containerd and the kubelet create; down.sh removes only those that did
# not exist before the first cluster-up.
OUTSIDE=(/run/containerd /run/netns /var/lib/cni /var/lib/kubelet /sys/fs/cgroup/cpu/kubepods /sys/fs/cgroup/memory/kubepods)
record_host_state() {
  [ -f "$STATE/preexisting" ] && return 0
  local p
  for p in "${OUTSIDE[@]}"; do [ -e "$p" ] && echo "$p"; done > "$STATE/preexisting" || true
  {
    echo "net.ipv4.ip_forward=$(sysctl -n net.ipv4.ip_forward)"
    echo "net.ipv4.conf.all.route_localnet=$(sysctl -n net.ipv4.conf.all.route_localnet)"
    echo "net.bridge.bridge-nf-call-iptables=$(sysctl -n net.bridge.bridge-nf-call-iptables 2>/dev/null || echo 0)"
    echo "net.bridge.bridge-nf-call-ip6tables=$(sysctl -n net.bridge.bridge-nf-call-ip6tables 2>/dev/null || echo 0)"
  } > "$STATE/sysctl.orig"
}

build_prereqs() {
  "$REPO/hack/build-k8s.sh" >/dev/null
  "$REPO/hack/images/build.sh" pause coredns
}

start_etcd() {
  start etcd "$K8S_BIN/etcd" --name elasti --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "elasti=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level warn
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_CLIENT_PORT/health"
}

start_apiserver() {
  local node="$1" p="$STATE/pki"
  start kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT" --advertise-address "$node" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true --profiling=false \
    --client-ca-file "$p/ca.crt" --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
    --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$p/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --requestheader-client-ca-file "$p/ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$p/front-proxy-client.crt" --proxy-client-key-file "$p/front-proxy-client.key" \
    --endpoint-reconciler-type lease --event-ttl 1h
  wait_for kube-apiserver 90 kubectl_ get --raw /readyz
}

start_control_plane() {
  local p="$STATE/pki" kc
  kc="$STATE/controller-manager.kubeconfig"
  start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --leader-elect=false --cluster-name elasti \
    --allocate-node-cidrs --cluster-cidr "$POD_CIDR_ALL" --node-cidr-mask-size 24 \
    --service-cluster-ip-range "$SERVICE_CIDR" --use-service-account-credentials \
    --root-ca-file "$p/ca.crt" --service-account-private-key-file "$p/sa.key" \
    --cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key"
  kc="$STATE/scheduler.kubeconfig"
  start kube-scheduler "$K8S_BIN/kube-scheduler" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --leader-elect=false
}

start_containerd() {
  containerd_config
  start containerd containerd --config "$STATE/containerd/config.toml" --log-level warn
  wait_for containerd 30 ctr -a "$CONTAINERD_SOCK" version
  local img
  for img in pause coredns; do
    ctr -a "$CONTAINERD_SOCK" -n k8s.io images import --no-unpack=false "$REPO/bin/images/$img.tar" >/dev/null
  done
  grep -qx "$SANDBOX_IMAGE" <<< "$(ctr -a "$CONTAINERD_SOCK" -n k8s.io images ls -q)" || die "sandbox image $SANDBOX_IMAGE not in containerd"
}

start_node() {
  local node="$1"
  kubelet_config "$node"
  kube_proxy_config
  start kubelet "$K8S_BIN/kubelet" --config "$STATE/kubelet/config.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
    --root-dir "$STATE/kubelet" --cert-dir "$STATE/kubelet/pki" --hostname-override "$NODE_NAME" --node-ip "$node" -v 1
  start kube-proxy "$K8S_BIN/kube-proxy" --config "$STATE/kube-proxy.yaml" -v 1
}

node_cidr() { $KUBECTL get node "$NODE_NAME" -o 'jsonpath={.spec.podCIDR}' 2>/dev/null; }
has_cidr() { [ -n "$(node_cidr)" ]; }
node_ready() {
  [ "$($KUBECTL get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
wait_node() {
  wait_for "node $NODE_NAME podCIDR" 60 has_cidr
  cni_config "$(node_cidr)"
  wait_for "node $NODE_NAME Ready" 60 node_ready
}

deploy_coredns() {
  sed -e "s#@CLUSTER_DOMAIN@#$CLUSTER_DOMAIN#g" -e "s#@COREDNS_IMAGE@#$COREDNS_IMAGE#g" -e "s#@DNS_SERVICE_IP@#$DNS_SERVICE_IP#g" \
    "$REPO/hack/cluster/coredns.yaml" | $KUBECTL apply -f - >/dev/null
  $KUBECTL -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null
}

main() {
  local node
  node="$(node_ip)"
  [ -n "$node" ] || die "no IPv4 address on the default-route interface"
  phase build; build_prereqs
  phase fence; record_host_state; "$REPO/hack/cluster/fence.sh" up; start fence-watchdog "$REPO/hack/cluster/fence.sh" watch
  phase pki; pki "$node"
  phase etcd; start_etcd
  phase kube-apiserver; start_apiserver "$node"
  phase containerd; start_containerd
  phase controllers; start_control_plane
  phase kubelet+proxy; start_node "$node"
  phase node-ready; wait_node
  phase coredns; deploy_coredns
  phases_done
  $KUBECTL version 2>/dev/null | sed 's/^/  /' >&2 || true
  echo "cluster up: export KUBECONFIG=$KUBECONFIG_ADMIN" >&2
  echo "$KUBECONFIG_ADMIN"
}
main "$@"

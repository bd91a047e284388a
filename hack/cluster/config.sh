# shellcheck shell=bash
# Configuration files of containerd, the kubelet, kube-proxy and the CNI, written under $STATE.
# Sourced by up.sh. Each reason for a setting that is not a default is in docs/cluster.md.

# put FILE: writes stdin to FILE only when the content differs (kube-proxy exits when its
# configuration file changes, even to the same bytes).
put() {
  local f="$1"
  cat > "$f.new"
  if cmp -s "$f.new" "$f"; then rm -f "$f.new"; else mv "$f.new" "$f"; fi
}

containerd_config() {
  local d="$STATE/containerd" reg
  mkdir -p "$d/root" "$d/state" "$d/certs.d" "$STATE/runc" "$STATE/cni/net.d" "$STATE/cni/ipam"
  # Every registry resolves to an address that refuses: an accidental pull fails at once, locally.
  for reg in _default docker.io registry.k8s.io quay.io ghcr.io gcr.io; do
    mkdir -p "$d/certs.d/$reg"
    printf 'server = "http://127.0.0.1:1"\n\n[host."http://127.0.0.1:1"]\n  capabilities = ["pull", "resolve"]\n' | put "$d/certs.d/$reg/hosts.toml"
  done
  put "$d/config.toml" <<TOML
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$CONTAINERD_SOCK"

[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
  # The VM lacks CAP_SYS_RESOURCE: without this every sandbox fails ("can't get final child's PID").
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$STATE/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$d/certs.d"
TOML
}

kubelet_config() {
  local node="$1" d="$STATE/kubelet"
  mkdir -p "$d" "$STATE/pod-logs"
  # Pods with dnsPolicy Default (CoreDNS) get this file: no upstream resolver, on purpose.
  printf '# elasti local cluster: no upstream DNS\noptions ndots:1\n' | put "$d/resolv.conf"
  put "$d/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization:
  mode: Webhook
tlsCertFile: $STATE/pki/kubelet-serving.crt
tlsPrivateKeyFile: $STATE/pki/kubelet-serving.key
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
clusterDNS: [$DNS_SERVICE_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: $d/resolv.conf
podLogsDirectory: $STATE/pod-logs
# Imported images cannot be pulled again: never garbage-collect them, never evict for disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "0%"
  nodefs.available: "0%"
  nodefs.inodesFree: "0%"
  imagefs.available: "0%"
  imagefs.inodesFree: "0%"
  pid.available: "0%"
maxPods: 110
serializeImagePulls: false
YAML
}

kube_proxy_config() {
  put "$STATE/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $STATE/kube-proxy.kubeconfig
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR_ALL
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [primary]
iptables:
  # 0s would be re-defaulted to 1s, adding up to a second to every wake-up.
  minSyncPeriod: 10ms
  syncPeriod: 30s
  localhostNodePorts: false
# 0 leaves the host's conntrack sysctls alone.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
YAML
}

# cni_config POD_CIDR: bridge + host-local IPAM on the node's pod CIDR + portmap.
cni_config() {
  local cidr="$1" f="$STATE/cni/net.d/10-elasti.conflist"
  put "$f" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "elasti",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$cidr"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$STATE/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
}

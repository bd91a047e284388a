# shellcheck shell=bash
# Certificates and kubeconfigs of the local cluster, made with openssl (EC P-256, one CA, one year).
# Sourced by up.sh; every file is written once and kept on later runs.

PKI="$STATE/pki"

# cert NAME CN O SAN_LIST EXT: key + certificate signed by the cluster CA.
# SAN_LIST is "DNS:a,IP:b" or empty; EXT is serverAuth, clientAuth or both.
cert() {
  local name="$1" cn="$2" o="$3" san="$4" usage="$5" subj ext
  [ -f "$PKI/$name.crt" ] && return 0
  subj="/CN=$cn"; [ -n "$o" ] && subj="/O=$o$subj"
  ext="$PKI/$name.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } > "$ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 365 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

# kubeconfig NAME USER SERVER: a kubeconfig using the client certificate NAME.
kubeconfig() {
  local name="$1" user="$2" server="$3" out="$STATE/$1.kubeconfig"
  [ "$name" = admin ] && out="$KUBECONFIG_ADMIN"
  [ -f "$out" ] && return 0
  cat > "$out" <<KC
apiVersion: v1
kind: Config
clusters:
- name: elasti-local
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 < "$PKI/$name.crt")
    client-key-data: $(base64 -w0 < "$PKI/$name.key")
contexts:
- name: elasti-local
  context: {cluster: elasti-local, user: $user}
current-context: elasti-local
KC
  chmod 600 "$out"
}

pki() {
  local node="$1" server="https://127.0.0.1:$APISERVER_PORT"
  mkdir -p "$PKI"; chmod 700 "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=elasti-local-ca" -days 365 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  [ -f "$PKI/sa.key" ] || {
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
    openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  }
  # Serving certificates name the node's address: issue them again when it changed.
  if [ "$(cat "$PKI/node-ip" 2>/dev/null)" != "$node" ]; then
    rm -f "$PKI/apiserver.crt" "$PKI/kubelet-serving.crt"
    echo "$node" > "$PKI/node-ip"
  fi
  cert apiserver kube-apiserver "" \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost,IP:127.0.0.1,IP:$API_SERVICE_IP,IP:$node" serverAuth
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "" clientAuth
  cert kubelet-serving "system:node:$NODE_NAME" system:nodes "DNS:$NODE_NAME,IP:$node" serverAuth
  cert admin kubernetes-admin system:masters "" clientAuth
  cert controller-manager system:kube-controller-manager "" "" clientAuth
  cert scheduler system:kube-scheduler "" "" clientAuth
  cert kube-proxy system:kube-proxy "" "" clientAuth
  cert kubelet "system:node:$NODE_NAME" system:nodes "" clientAuth
  cert front-proxy-client front-proxy-client "" "" clientAuth
  kubeconfig admin kubernetes-admin "$server"
  kubeconfig controller-manager system:kube-controller-manager "$server"
  kubeconfig scheduler system:kube-scheduler "$server"
  kubeconfig kube-proxy system:kube-proxy "$server"
  kubeconfig kubelet "system:node:$NODE_NAME" "$server"
}

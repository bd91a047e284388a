#!/usr/bin/env bash
# make demo: from nothing to a woken request, with timings.
#   1. the local cluster (hack/cluster/up.sh), images built and loaded, Elasti installed
#      (self-managed certificates);
#   2. namespace elasti-demo opted in (annotation elasti.dev/inject=enabled and a gateway selector),
#      a gateway (plain reverse proxy) and the demo app (1 s start-up delay) with its ElastiService;
#   3. shows the resolver sidecar injected into the gateway pod, scales the app to zero BY HAND
#      (kubectl scale: no Prometheus trigger is configured in the demo) and waits for the Service's
#      proxy mode, sends a request through the gateway that wakes the app (total time and the
#      sidecar's Server-Timing hold time), and waits for serve mode again;
#   4. the same app behind a real ingress controller: Traefik v3 built from source
#      (hack/traefik/build.sh, about 20 minutes the first time, cached after) in namespace
#      elasti-traefik, opted in so its pod gets the sidecar, and an Ingress for the external host
#      demo.example.test with no Elasti annotation; the app goes to zero again and a request
#      through Traefik wakes it. Traefik connects to the endpoints of the proxy EndpointSlice, i.e.
#      to the sidecar port the operator allocated to demo-app's port, which is how the sidecar
#      knows the Service whatever the Host. DEMO_TRAEFIK=0 leaves this step out.
# Idempotent: a second run reuses the cluster, the images and the install.
set -euo pipefail
. "$(dirname "$0")/cluster/lib.sh"
NS=elasti-demo
DEMO_TRAEFIK="${DEMO_TRAEFIK:-1}"
TRAEFIK_VERSION="${TRAEFIK_VERSION:-v3.7.13}"
TRAEFIK_NS=elasti-traefik
TRAEFIK_HOST=demo.example.test
k() { $KUBECTL "$@"; }
TIMINGS=()
ms_since() { echo $(( $(_now_ms) - $1 )); }
secs() { awk -v ms="$1" 'BEGIN{printf "%.3f", ms/1000}'; }
timing() { TIMINGS+=("$1|$(secs "$2")"); log "$1: $(secs "$2")s"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

# poll TIMEOUT_S CMD...: like wait_for, silent.
poll() { local t="$1"; shift; wait_for "$*" "$t" "$@"; }
es_mode() { k -n "$NS" get elastiservice demo-app -o 'jsonpath={.status.mode}' 2>/dev/null; }
mode_is() { [ "$(es_mode)" = "$1" ]; }
# running_pod NAMESPACE SELECTOR: the first running pod that is not being deleted (a rollout's old
# pod keeps phase Running while it terminates).
running_pod() {
  k -n "$1" get pods -l "$2" --field-selector=status.phase=Running \
    -o 'jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}' 2>/dev/null |
    awk 'NF == 1 {print $1; exit}' || true
}
gateway_pod() { running_pod "$NS" app=gateway; }
ns_labelled() { [ "$(k get ns "${1:-$NS}" -o 'jsonpath={.metadata.labels.elasti\.dev/inject}')" = enabled ]; }
app_pods() { k -n "$NS" get pods -l app=demo-app -o name 2>/dev/null | grep -c . || true; }
no_app_pods() { [ "$(app_pods)" = 0 ]; }
app_ready() { [ "$(k -n "$NS" get deploy demo-app -o 'jsonpath={.status.readyReplicas}')" = 1 ]; }
# acked: the gateway's sidecar acknowledged demo-app (its Lease elasti-acks-<pod uid> in
# elasti-system has the annotation <namespace>.ack.elasti.dev/demo-app; docs/stream.md).
acked() {
  local uid; uid="$(k -n "$NS" get pod "$(gateway_pod)" -o 'jsonpath={.metadata.uid}' 2>/dev/null)"
  [ -n "$uid" ] && k -n elasti-system get lease "elasti-acks-$uid" -o 'jsonpath={.metadata.annotations}' 2>/dev/null |
    grep -q "\"$NS.ack.elasti.dev/demo-app\""
}
proxy_slice() {
  k -n "$NS" get endpointslices -l "kubernetes.io/service-name=demo-app,elasti.dev/elastiservice=demo-app" \
    -o 'jsonpath={.items[*].endpoints[*].addresses[0]}' 2>/dev/null | grep -q .
}

# restart_stale NAMESPACE...: rolls out again every Deployment whose pods run an elasti/* image
# older than the archive in bin/images (an image re-imported under the same tag does not restart
# running pods by itself).
restart_stale() {
  local a name ns owner pair img id want line pairs deploys=()
  declare -A digest
  if [ "$(provider)" = kind ]; then
    # Pods on kind report the repo digest `kind load` gave the image ("import-<date>@sha256:...");
    # the node's CRI lists it for the tag the archive carries.
    local node; node="$("$REPO/hack/cluster/kind.sh" node)"
    for a in "$REPO"/bin/images/*.tar; do
      name="$(tar xOf "$a" manifest.json | sed -n 's/.*"RepoTags":\["\([^"]*\)".*/\1/p')"
      digest[$(basename "$a" .tar)]="$(docker exec "$node" crictl inspecti -o json "docker.io/$name" 2>/dev/null |
        jq -r '.status.repoDigests | join(" ")' 2>/dev/null)"
    done
  else
    for a in "$REPO"/bin/images/*.tar; do
      digest[$(basename "$a" .tar)]="$(tar xOf "$a" manifest.json | sed -n 's/.*"Config":"\(sha256:[0-9a-f]*\)".*/\1/p')"
    done
  fi
  for ns in "$@"; do
    while read -r ns owner line; do
      read -r -a pairs <<< "$line"
      for pair in "${pairs[@]}"; do
        img="${pair%%=*}"; id="${pair#*=}"
        name="${img#docker.io/}"; name="${name#elasti/}"; name="${name%%:*}"
        want="${digest[$name]:-}"
        case "$img" in *elasti/*) ;; *) continue ;; esac
        if [ -n "$want" ] && [ "$id" != "$want" ] && [[ " $want " != *" $id "* ]]; then deploys+=("$ns/${owner%-*}"); fi
      done
    done < <(k -n "$ns" get pods -o jsonpath='{range .items[*]}{.metadata.namespace} {.metadata.ownerReferences[0].name}{range .status.initContainerStatuses[*]} {.image}={.imageID}{end}{range .status.containerStatuses[*]} {.image}={.imageID}{end}{"\n"}{end}' 2>/dev/null)
  done
  [ ${#deploys[@]} -eq 0 ] && return 0
  for a in $(printf '%s\n' "${deploys[@]}" | sort -u); do
    log "restarting deployment $a: its pods run an older image than bin/images"
    k -n "${a%/*}" rollout restart "deployment/${a#*/}" >/dev/null
    k -n "${a%/*}" rollout status "deployment/${a#*/}" --timeout=180s >/dev/null
  done
}

setup() {
  local t
  say "1. cluster"
  t=$(_now_ms); "$REPO/hack/cluster/up.sh" >/dev/null; timing "cluster up" "$(ms_since "$t")"
  say "2. images (build + load into containerd)"
  t=$(_now_ms); "$REPO/hack/images/build.sh"; "$REPO/hack/images/load.sh" 2>/dev/null; timing "images built and loaded" "$(ms_since "$t")"
  say "3. install Elasti (overlay self-managed)"
  t=$(_now_ms)
  mkdir -p "$REPO/dist"
  k kustomize "$REPO/manifests/overlays/self-managed" > "$REPO/dist/install-self-managed.yaml"
  KUBECTL="$KUBECTL" "$REPO/hack/cluster/install.sh" install "$REPO/dist/install-self-managed.yaml" 2>&1 | grep -v '^Waiting' >&2
  restart_stale elasti-system
  timing "Elasti installed" "$(ms_since "$t")"
}

deploy_demo() {
  local t gw
  say "4. demo namespace, gateway, app and ElastiService"
  t=$(_now_ms)
  k apply -f "$REPO/hack/cluster/demo.yaml" >&2
  poll 30 ns_labelled
  timing "namespace opted in (webhook mirrored the annotation to the label)" "$(ms_since "$t")"
  # A gateway pod created before the label existed has no sidecar: replace it.
  gw="$(gateway_pod)"
  if [ -n "$gw" ] && ! k -n "$NS" get pod "$gw" -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}' | grep -qw elasti-resolver; then
    k -n "$NS" rollout restart deployment/gateway >&2
    # Let the new pods come up before restart_stale looks at images: a second restart within
    # the same second is refused by kubectl.
    k -n "$NS" rollout status deployment/gateway --timeout=120s >/dev/null
  fi
  k -n "$NS" scale deployment/demo-app --replicas=1 >/dev/null
  restart_stale "$NS"
  k -n "$NS" rollout status deployment/gateway --timeout=120s >/dev/null
  k -n "$NS" rollout status deployment/demo-app --timeout=120s >/dev/null
  poll 60 mode_is serve
  timing "gateway and app ready, ElastiService in serve mode" "$(ms_since "$t")"
  say "5. the resolver sidecar injected into the gateway pod"
  k -n "$NS" get pod "$(gateway_pod)" -o jsonpath='{range .spec.initContainers[*]}init container {.name} (restartPolicy {.restartPolicy}) image {.image}{"\n"}{end}{range .spec.containers[*]}container {.name} image {.image}{"\n"}{end}' | sed 's/^/    /' >&2
  k -n "$NS" get pod "$(gateway_pod)" -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}' | grep -qw elasti-resolver ||
    die "the gateway pod has no elasti-resolver sidecar"
}

scale_to_zero() {
  local t
  say "${1:-6}. scale the app to zero (by hand: kubectl scale; the demo configures no trigger)"
  t=$(_now_ms)
  k -n "$NS" scale deployment/demo-app --replicas=0 >&2
  poll 30 mode_is proxy
  timing "ElastiService in proxy mode" "$(ms_since "$t")"
  poll 30 proxy_slice
  poll 30 acked
  timing "proxy EndpointSlice points at the sidecar, sidecar acknowledged" "$(ms_since "$t")"
  poll 60 no_app_pods
  timing "app pods gone" "$(ms_since "$t")"
  k -n "$NS" get endpointslices -l kubernetes.io/service-name=demo-app -o wide | sed 's/^/    /' >&2
}

# curl_cluster ARGS...: curl from where ClusterIPs answer: this machine for the local cluster, the
# node container for kind.
curl_cluster() {
  if [ "$(provider)" = kind ]; then docker exec elasti-control-plane curl "$@"; else curl "$@"; fi
}

wake() {
  local ip resp status code total hold body t
  say "7. a request through the gateway wakes the app"
  ip="$(k -n "$NS" get svc gateway -o 'jsonpath={.spec.clusterIP}')"
  t=$(_now_ms)
  resp="$(curl_cluster -sS -m 60 -i -w '\n%{http_code} %{time_total}' -H 'Host: demo-app' "http://$ip/" | tr -d '\r')" || true # a failed curl is reported below
  status="$(tail -1 <<< "$resp")"; code="${status% *}"; total="${status#* }"
  hold="$(awk -F'dur=' 'tolower($0) ~ /^server-timing:.*elasti-hold/ {print $2; exit}' <<< "$resp" | cut -d, -f1)"
  body="$(sed '1,/^$/d;$d' <<< "$resp")"
  [ "$code" = 200 ] || { echo "$resp" >&2; die "the waking request answered ${code:-nothing}"; }
  echo "    curl -H 'Host: demo-app' http://$ip/  ->  $code $body" >&2
  TIMINGS+=("waking request, total (client)|$(awk -v s="$total" 'BEGIN{printf "%.3f", s}')")
  TIMINGS+=("waking request, held by the sidecar (Server-Timing elasti-hold)|$(awk -v ms="${hold:-0}" 'BEGIN{printf "%.3f", ms/1000}')")
  log "waking request: ${total}s total; held by the sidecar ${hold:-?} ms (Server-Timing elasti-hold)"
  poll 60 mode_is serve
  timing "ElastiService back in serve mode (after the request was sent)" "$(ms_since "$t")"
  k -n "$NS" logs deploy/demo-app 2>/dev/null | grep 'first answer' | sed 's/^/    app: /' >&2 || true
}

traefik_pod() { running_pod "$TRAEFIK_NS" app.kubernetes.io/name=traefik; }
traefik_ip() { k -n "$TRAEFIK_NS" get svc traefik -o 'jsonpath={.spec.clusterIP}'; }
# traefik_api PATH: GET from Traefik's API (entry point "traefik", port 9000 of its Service).
traefik_api() { curl_cluster -sf -m 3 "http://$(traefik_ip):9000$1"; }
traefik_router_enabled() { traefik_api "/api/http/routers/$NS-demo-app-${TRAEFIK_HOST//./-}@kubernetes" | grep -q '"status":"enabled"'; }
# sidecar_port: the sidecar port the operator allocated to demo-app's Service port "http".
sidecar_port() { k -n "$NS" get elastiservice demo-app -o 'jsonpath={.status.sidecarPorts[?(@.name=="http")].sidecarPort}' 2>/dev/null; }
# traefik_sends_to_sidecars: Traefik's service for demo-app lists servers on that sidecar port,
# i.e. it has read the proxy EndpointSlice.
traefik_sends_to_sidecars() {
  local port; port="$(sidecar_port)"
  [ -n "$port" ] && traefik_api "/api/http/services/$NS-demo-app-80@kubernetes" | grep -q ":$port\""
}

deploy_traefik() {
  local t
  say "8. Traefik v3: a real ingress controller in namespace $TRAEFIK_NS"
  t=$(_now_ms)
  "$REPO/test/e2e/images.sh" traefik
  timing "Traefik built from source (cached after the first run), packed and loaded" "$(ms_since "$t")"
  t=$(_now_ms)
  sed -e "s/__NAMESPACE__/$TRAEFIK_NS/g" -e "s|__IMAGE__|elasti/e2e-traefik:$TRAEFIK_VERSION|g" \
    -e "s/__INGRESS_CLASS__/traefik/g" "$REPO/test/e2e/testdata/traefik.yaml" | k apply -f - >&2
  poll 30 ns_labelled "$TRAEFIK_NS"
  k -n "$TRAEFIK_NS" rollout status deployment/traefik --timeout=120s >/dev/null
  # A pod created before the webhook saw the namespace's label has no sidecar: replace it.
  if ! k -n "$TRAEFIK_NS" get pod "$(traefik_pod)" -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}' | grep -qw elasti-resolver; then
    k -n "$TRAEFIK_NS" rollout restart deployment/traefik >&2
    k -n "$TRAEFIK_NS" rollout status deployment/traefik --timeout=120s >/dev/null
  fi
  k -n "$TRAEFIK_NS" get pod "$(traefik_pod)" -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}' | grep -qw elasti-resolver ||
    die "Traefik's pod has no elasti-resolver sidecar"
  timing "Traefik ready, with the resolver sidecar" "$(ms_since "$t")"
  t=$(_now_ms)
  k apply -f - >&2 <<YAML
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: demo-app, namespace: $NS}
spec:
  ingressClassName: traefik
  rules:
  - host: $TRAEFIK_HOST
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: demo-app, port: {number: 80}}}}
YAML
  poll 60 traefik_router_enabled
  timing "Ingress for $TRAEFIK_HOST (no Elasti annotation) served by Traefik" "$(ms_since "$t")"
}

wake_through_traefik() {
  local ip resp status code total t line
  t=$(_now_ms)
  poll 60 traefik_sends_to_sidecars
  timing "Traefik sends demo-app's traffic to the sidecars' port $(sidecar_port) (proxy EndpointSlice read)" "$(ms_since "$t")"
  say "10. a request to http://$TRAEFIK_HOST/ through Traefik wakes the app"
  ip="$(traefik_ip)"
  t=$(_now_ms)
  resp="$(curl_cluster -sS -m 60 -i -w '\n%{http_code} %{time_total}' -H "Host: $TRAEFIK_HOST" "http://$ip/" | tr -d '\r')" || true
  status="$(tail -1 <<< "$resp")"; code="${status% *}"; total="${status#* }"
  if [ "$code" != 200 ]; then
    while IFS= read -r line; do printf '    %s\n' "$line"; done <<< "$resp" >&2
    die "the request through Traefik answered ${code:-nothing} (Traefik connects to the sidecar port $(sidecar_port) with Host: $TRAEFIK_HOST; see the Traefik and elasti-resolver logs below the Explore list)"
  fi
  echo "    curl -H 'Host: $TRAEFIK_HOST' http://$ip/  ->  $code $(sed '1,/^$/d;$d' <<< "$resp")" >&2
  TIMINGS+=("waking request through Traefik, total (client)|$(awk -v s="$total" 'BEGIN{printf "%.3f", s}')")
  poll 60 mode_is serve
  timing "ElastiService back in serve mode (after the request through Traefik)" "$(ms_since "$t")"
}

report() {
  local row
  say "timings"
  for row in "${TIMINGS[@]}"; do printf '  %-66s %8ss\n' "${row%|*}" "${row#*|}" >&2; done
  cat >&2 <<TXT

Explore:
  export KUBECONFIG=$KUBECONFIG_ADMIN
  alias kubectl=$K8S_BIN/kubectl
  kubectl get elastiservices -A
  kubectl -n $NS describe elastiservice demo-app
  kubectl -n $NS get endpointslices -l kubernetes.io/service-name=demo-app
  kubectl -n $NS logs deploy/gateway -c elasti-resolver
  kubectl -n elasti-system logs deploy/elasti-operator
  kubectl -n $NS scale deploy/demo-app --replicas=0     # back to zero, then:
  curl -si -H 'Host: demo-app' http://\$(kubectl -n $NS get svc gateway -o jsonpath='{.spec.clusterIP}')/
  kubectl get --raw /api/v1/namespaces/elasti-system/services/elasti-operator:metrics/proxy/metrics | grep ^elasti_
  make cluster-down                                    # removes everything the cluster created
TXT
  [ "$DEMO_TRAEFIK" = 1 ] || return 0
  cat >&2 <<TXT
Traefik:
  kubectl -n $TRAEFIK_NS logs deploy/traefik -c traefik
  curl -s http://\$(kubectl -n $TRAEFIK_NS get svc traefik -o jsonpath='{.spec.clusterIP}'):9000/api/http/services/$NS-demo-app-80@kubernetes
  curl -si -H 'Host: $TRAEFIK_HOST' http://\$(kubectl -n $TRAEFIK_NS get svc traefik -o jsonpath='{.spec.clusterIP}')/
TXT
}

setup
deploy_demo
scale_to_zero
wake
if [ "$DEMO_TRAEFIK" = 1 ]; then
  deploy_traefik
  scale_to_zero 9
  wake_through_traefik
fi
report

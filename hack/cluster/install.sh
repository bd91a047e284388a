#!/usr/bin/env bash
# Applies, removes or dry-runs a rendered install bundle (dist/install-<overlay>.yaml).
#
#   install.sh install   FILE   apply (server-side) and wait for the operator and webhook
#   install.sh uninstall FILE   delete the ElastiServices first (the operator restores their
#                               Services and targets), then every object of FILE
#   install.sh dry-run FILE...  kubectl apply --dry-run=server of every object; cert-manager's CRDs
#                               (from the github.com/cert-manager/cert-manager module's deploy/crds,
#                               fetched with `go mod download`) and the elasti-system Namespace are
#                               created for the check and removed again if they were not there
# Uses $KUBECTL and $KUBECONFIG.
set -euo pipefail
KUBECTL="${KUBECTL:-kubectl}"
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-v1.21.2}"
CACHE="${ELASTI_CACHE:-$HOME/.cache/elasti}"
NS=elasti-system
log() { printf '%s install: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
k() { $KUBECTL "$@"; }

install() {
  local file="$1" t0; t0=$(date +%s)
  if grep -q '^apiVersion: cert-manager.io/' "$file" && ! k get crd certificates.cert-manager.io >/dev/null 2>&1; then
    die "$file needs cert-manager (its CRDs are missing): install cert-manager first, or use OVERLAY=self-managed"
  fi
  k apply --server-side --force-conflicts --field-manager=elasti-install -f "$file" >/dev/null
  log "applied $file; waiting for the webhook and the operator"
  k -n "$NS" rollout status deployment/elasti-webhook --timeout=180s
  k -n "$NS" rollout status deployment/elasti-operator --timeout=180s
  log "Elasti installed in $(( $(date +%s) - t0 ))s"
}

uninstall() {
  local file="$1"
  if k get crd elastiservices.elasti.dev >/dev/null 2>&1; then
    k delete elastiservices --all -A --wait=true --timeout=60s || log "ElastiServices not all gone (is the operator running?)"
  fi
  k delete -f "$file" --ignore-not-found --wait=true --timeout=120s
  log "Elasti uninstalled"
}

cert_manager_crds() {
  local mod="$CACHE/cert-manager" dir
  mkdir -p "$mod"
  [ -f "$mod/go.mod" ] || (cd "$mod" && go mod init elasti.local/cert-manager-crds >/dev/null 2>&1)
  dir="$(cd "$mod" && go mod download -json "github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  [ -d "$dir/deploy/crds" ] || die "no deploy/crds in cert-manager $CERT_MANAGER_VERSION"
  echo "$dir/deploy/crds"
}

dry_run() {
  local created_ns=0 created_crds=0 crds f
  if ! k get crd certificates.cert-manager.io >/dev/null 2>&1; then
    crds="$(cert_manager_crds)"
    k apply --server-side -f "$crds" >/dev/null
    k wait --for=condition=Established crd -l app.kubernetes.io/name=cert-manager --timeout=60s >/dev/null 2>&1 ||
      k wait --for=condition=Established -f "$crds" --timeout=60s >/dev/null
    created_crds=1
    log "installed cert-manager $CERT_MANAGER_VERSION CRDs for the check"
  fi
  if ! k get namespace "$NS" >/dev/null 2>&1; then
    k create namespace "$NS" --save-config >/dev/null; created_ns=1
  fi
  local rc=0
  for f in "$@"; do
    if k apply --dry-run=server -f "$f" > "$f.dry-run.txt" 2>&1; then
      log "$f: $(grep -c "(server dry run)" "$f.dry-run.txt") objects pass server-side dry-run"
    else
      rc=1; log "$f: dry-run FAILED:"; grep -v 'created (server dry run)\|configured (server dry run)\|unchanged (server dry run)' "$f.dry-run.txt" >&2
    fi
    sed 's/^/    /' "$f.dry-run.txt" >&2
  done
  [ "$created_ns" = 1 ] && k delete namespace "$NS" --timeout=60s >/dev/null
  [ "$created_crds" = 1 ] && k delete -f "$crds" --wait=false >/dev/null
  log "removed what the check created (elasti-system namespace: $created_ns, cert-manager CRDs: $created_crds)"
  return $rc
}

cmd="${1:-}"; shift || true
case "$cmd" in
  install) install "$1" ;;
  uninstall) uninstall "$1" ;;
  dry-run) dry_run "$@" ;;
  *) echo "usage: $0 install FILE | uninstall FILE | dry-run FILE..." >&2; exit 2 ;;
esac

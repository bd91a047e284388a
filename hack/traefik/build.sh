#!/usr/bin/env bash
# Builds Traefik from source through the Go module proxy into
# $ELASTI_CACHE/traefik/<version>/traefik: static (CGO_ENABLED=0), version stamped with ldflags.
# Cached: rebuilt only when the binary is missing or an input changed (this script,
# checksecret.go, the version, the Go toolchain, GOARCH). Prints the binary's path on the last
# line of stdout (test/e2e/images.sh reads it); progress goes to stderr.
#
# `go install github.com/traefik/traefik/v3/cmd/traefik@<version>` cannot work: Traefik's go.mod
# has replace directives. So this builds a writable copy of the released module (the directory
# `go mod download -json` names) in a throwaway work dir, $ELASTI_CACHE/traefik/<version>/work,
# recreated by every build. Nothing of Traefik is committed to or vendored into this repository.
# The copy gets three changes, none of which touches the Kubernetes Ingress provider or the
# proxy path (docs/cluster.md, "Traefik", lists them for users):
#   1. The nested module github.com/traefik/traefik/dynamic/ext is required by the main module,
#      which replaces it with ./pkg/config/dynamic/ext, but that directory is not in the released
#      module zip and the module proxy does not serve it on its own. Its only import site
#      (pkg/config/dynamic/http_config.go) embeds ext.HTTP and ext.Router, empty extension
#      points; this script writes that package at the path the replace names, after checking
#      that the import sites use nothing else.
#   2. lego's ACME DNS providers in DROPPED_DNS_PROVIDERS import modules the proxy refuses (HTTP
#      403 "This module version is not available"). lego registers every provider in one file,
#      providers/dns/zz_gen_dns_providers.go; the build uses a copy of lego (a replace) in which
#      those providers' imports are removed and their constructors return an error that says
#      the provider is not in this build.
#   3. Traefik replaces github.com/abbot/go-http-auth with its fork github.com/containous/go-http-auth,
#      which the proxy refuses. The build uses abbot/go-http-auth v0.4.0 instead, whose API differs
#      in two calls: CheckSecret (basic auth) does not exist there, so hack/traefik/checksecret.go
#      provides the same comparison; RequireAuthStale (digest auth) does not exist either, and
#      v0.4.0's CheckAuth never reports a stale nonce, so that branch becomes RequireAuth.
set -euo pipefail

TRAEFIK_VERSION="${TRAEFIK_VERSION:-v3.7.13}"
CACHE="${ELASTI_CACHE:-$HOME/.cache/elasti}"
here="$(cd "$(dirname "$0")" && pwd)"
dir="$CACHE/traefik/$TRAEFIK_VERSION"
bin="$dir/traefik"
work="$dir/work"
log() { printf '%s traefik %s: %s\n' "$(date -u +%H:%M:%S)" "$TRAEFIK_VERSION" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Providers whose dependencies the module proxy refuses, with the refused module (for the docs).
DROPPED_DNS_PROVIDERS=(
  alidns        # github.com/go-acme/alidns-20150109/v5
  aliesa        # github.com/go-acme/esa-20240910/v3
  azion         # github.com/aziontech/azionapi-go-sdk
  dnsimple      # github.com/dnsimple/dnsimple-go/v9
  edgedns       # github.com/akamai/AkamaiOPEN-edgegrid-golang/v13 (also "fastdns")
  edgeone       # github.com/go-acme/tencentedgdeone
  huaweicloud   # github.com/huaweicloud/huaweicloud-sdk-go-v3
  oraclecloud   # github.com/nrdcg/oci-go-sdk/{common,dns}/v1065
  regfish       # github.com/regfish/regfish-dnsapi-go
  sakuracloud   # github.com/sacloud/sacloud-sdk-go
  tencentcloud  # github.com/go-acme/tencentclouddnspod
  ucloud        # github.com/ucloud/ucloud-sdk-go
  yandexcloud   # github.com/yandex-cloud/go-sdk/services/dns
)
GO_HTTP_AUTH_VERSION=v0.4.0

# Never let `go` fetch another toolchain; build with the one installed. The binary is for a Linux
# image (GOARCH as the caller sets it, default the host's).
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOOS=linux
inputs="$(
  cat "$here/build.sh" "$here/checksecret.go"
  echo "$TRAEFIK_VERSION $(go env GOVERSION) $(go env GOOS) $(go env GOARCH)"
)"
inputs_sum="$(sha256sum <<<"$inputs" | cut -d' ' -f1)"
if [ -x "$bin" ] && [ "$(cat "$dir/inputs.sha256" 2>/dev/null)" = "$inputs_sum" ]; then
  log "cached $bin"
  echo "$bin"
  exit 0
fi

t0=$(date +%s)
mkdir -p "$dir"
# mod_dir MODULE@VERSION: download it (verified against the checksum database) and print its directory.
mod_dir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }
# writable_copy SRC DST: the module cache is read-only.
writable_copy() { rm -rf "$2"; cp -r "$1" "$2"; chmod -R u+w "$2"; }

log "downloading the module"
src_dir="$(mod_dir "github.com/traefik/traefik/v3@$TRAEFIK_VERSION")"
[ -d "$src_dir" ] || die "go mod download gave no directory for github.com/traefik/traefik/v3@$TRAEFIK_VERSION"
rm -rf "$work"
mkdir -p "$work"
writable_copy "$src_dir" "$work/traefik"
cd "$work/traefik"

# 1. dynamic/ext, at the directory Traefik's own replace names.
grep -qx 'replace github.com/traefik/traefik/dynamic/ext => ./pkg/config/dynamic/ext' go.mod ||
  die "go.mod no longer replaces dynamic/ext with ./pkg/config/dynamic/ext: update this script"
used="$(grep -rl --include='*.go' '"github.com/traefik/traefik/dynamic/ext"' . | grep -v '_test\.go$' |
  xargs grep -ho '\bext\.[A-Z][A-Za-z0-9_]*' | sort -u | tr '\n' ' ')"
[ "$used" = "ext.HTTP ext.Router " ] || die "dynamic/ext import sites use '$used', not only ext.HTTP and ext.Router: update this script"
mkdir -p pkg/config/dynamic/ext
printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.24.0\n' >pkg/config/dynamic/ext/go.mod
cat >pkg/config/dynamic/ext/ext.go <<'EOF'
// Package ext holds extension points of Traefik's dynamic configuration. Written by Elasti's
// hack/traefik/build.sh: the released module does not contain it, and the only import site
// embeds these two types (copied by value by the generated deep copies).
package ext

// HTTP is embedded in dynamic.HTTPConfiguration.
type HTTP struct{}

// Router is embedded in dynamic.Router.
type Router struct{}
EOF

# 2. lego without the providers whose dependencies are refused.
lego_version="$(awk '$1 == "github.com/go-acme/lego/v5" {print $2; exit}' go.mod)"
writable_copy "$(mod_dir "github.com/go-acme/lego/v5@$lego_version")" "$work/lego"
reg="$work/lego/providers/dns/zz_gen_dns_providers.go"
for p in "${DROPPED_DNS_PROVIDERS[@]}"; do
  grep -q "^	\"github.com/go-acme/lego/v5/providers/dns/$p\"$" "$reg" || die "lego $lego_version has no DNS provider $p: update DROPPED_DNS_PROVIDERS"
  sed -i -e "\\|^	\"github.com/go-acme/lego/v5/providers/dns/$p\"$|d" \
    -e "s|^\\(		\\)return $p\\.NewDNSProvider()$|\\1return nil, fmt.Errorf(\"DNS provider $p is not in this build of Traefik (Elasti's hack/traefik/build.sh: its dependencies are not served by the Go module proxy)\")|" "$reg"
  ! grep -q "\\b$p\\." "$reg" || die "could not remove DNS provider $p from $reg"
done
go mod edit -replace "github.com/go-acme/lego/v5=$work/lego"

# 3. upstream go-http-auth instead of Traefik's fork.
go mod edit -dropreplace github.com/abbot/go-http-auth -require "github.com/abbot/go-http-auth@$GO_HTTP_AUTH_VERSION"
sed -i 's/\bgoauth\.CheckSecret\b/checkSecret/' pkg/middlewares/auth/basic_auth.go
sed -i 's/\bd\.auth\.RequireAuthStale(rw, req)/d.auth.RequireAuth(rw, req)/' pkg/middlewares/auth/digest_auth.go
grep -v '^//go:build ignore' "$here/checksecret.go" >pkg/middlewares/auth/elasti_checksecret.go
! grep -rq --include='*.go' --exclude='*_test.go' 'goauth\.CheckSecret\|\.RequireAuthStale(' pkg/middlewares/auth ||
  die "go-http-auth adaptation did not apply to pkg/middlewares/auth"

# -mod=mod records the changed requirements in the copy's go.sum (downloads are verified
# against the checksum database). The codename is the one Traefik's release workflow stamps.
codename="$(sed -n 's/^ *CODENAME: *//p' .github/workflows/release.yaml 2>/dev/null | head -1)"
build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$(go env GOMODCACHE)/cache/download/github.com/traefik/traefik/v3/@v/$TRAEFIK_VERSION.info")"
log "resolving dependencies and building (about 20 minutes on 2 busy cores with an empty Go build cache)"
pkg=github.com/traefik/traefik/v3/pkg/version
go build -mod=mod -trimpath -o "$bin.tmp" \
  -ldflags "-s -w -X $pkg.Version=${TRAEFIK_VERSION#v} -X $pkg.Codename=${codename:-unknown} -X $pkg.BuildDate=$build_date" \
  ./cmd/traefik
mv "$bin.tmp" "$bin"
echo "$inputs_sum" >"$dir/inputs.sha256"
log "built $bin in $(($(date +%s) - t0))s"
echo "$bin"

#!/usr/bin/env bash
# Builds Prometheus from source through the Go module proxy into
# $HOME/.cache/elasti/prometheus/<version>/prometheus. Idempotent: a binary that
# already exists is kept. The throwaway module is never tidied: tidy also
# resolves test-only dependencies, one of which the proxy refuses.
set -euo pipefail

version="${PROMETHEUS_VERSION:-v0.313.5}"
dir="${ELASTI_CACHE:-$HOME/.cache/elasti}/prometheus/${version}"
bin="${dir}/prometheus"

if [[ -x "${bin}" ]]; then
	echo "prometheus ${version}: ${bin} (cached)"
	exit 0
fi

mkdir -p "${dir}/src"
cd "${dir}/src"
if [[ ! -f go.mod ]]; then
	go mod init elasti.local/prometheus-build >/dev/null 2>&1
fi
# The module path must not be the main module's, so any name works.
echo "prometheus ${version}: resolving modules (slow the first time)"
GOFLAGS=-mod=mod go get "github.com/prometheus/prometheus/cmd/prometheus@${version}"
echo "prometheus ${version}: building"
semver="${version#v0.}"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "${bin}.tmp" \
	-ldflags "-s -w -X github.com/prometheus/common/version.Version=3.${semver#*.}" \
	github.com/prometheus/prometheus/cmd/prometheus
mv "${bin}.tmp" "${bin}"
echo "prometheus ${version}: ${bin}"

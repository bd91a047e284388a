#!/usr/bin/env bash
# Builds Prometheus from source through the Go module proxy into
# $HOME/.cache/elasti/prometheus/<version>/prometheus. Idempotent: a binary that
# already exists is kept. The throwaway module is never tidied: tidy also
# resolves test-only dependencies, one of which the proxy refuses.
set -euo pipefail

version="${PROMETHEUS_VERSION:-v0.313.5}"
dir="${ELASTI_CACHE:-$HOME/.cache/elasti}/prometheus/${version}"
bin="${dir}/prometheus"

# The last line printed is always the binary's path (test/e2e/images.sh reads it).
if [[ -x "${bin}" ]]; then
	echo "prometheus ${version}: cached" >&2
	echo "${bin}"
	exit 0
fi

mkdir -p "${dir}/src"
cd "${dir}/src"
if [[ ! -f go.mod ]]; then
	go mod init elasti.local/prometheus-build >/dev/null 2>&1
fi
# Only the Kubernetes service discovery the suite's scrape config uses (Prometheus' own build tags:
# plugins/plugin_*.go): the other discoveries pull in the cloud providers' SDKs, which a cold build
# would compile for nothing.
tags="remove_all_sd,enable_kubernetes_sd"
# The module path must not be the main module's, so any name works.
echo "prometheus ${version}: resolving modules (slow the first time)" >&2
GOFLAGS=-mod=mod go get -tags "${tags}" "github.com/prometheus/prometheus/cmd/prometheus@${version}"
echo "prometheus ${version}: building" >&2
# Module v0.3MM.P is Prometheus 3.MM.P.
IFS=. read -r _ minor patch <<<"${version#v}"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags "${tags}" -o "${bin}.tmp" \
	-ldflags "-s -w -X github.com/prometheus/common/version.Version=3.$((10#${minor} - 300)).${patch}" \
	github.com/prometheus/prometheus/cmd/prometheus
mv "${bin}.tmp" "${bin}"
echo "prometheus ${version}: built" >&2
echo "${bin}"

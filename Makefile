# Elasti — scale-to-zero for Kubernetes. `make help` lists the targets.
SHELL := /usr/bin/env bash -o pipefail
.DEFAULT_GOAL := help

GO            ?= go
BIN           := $(CURDIR)/bin
ELASTI_CACHE  ?= $(HOME)/.cache/elasti
K8S_VERSION   ?= $(shell cat $(CURDIR)/hack/k8s-version)
HELM_VERSION  ?= $(shell cat $(CURDIR)/hack/helm-version)
CONTROLLER_GEN_VERSION ?= v0.23.0
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
export ELASTI_CACHE K8S_VERSION HELM_VERSION

##@ General
.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development
.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code (zz_generated.deepcopy.go).
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC manifests from markers (and copy them into the Helm chart).
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=manifests/base/crd
	$(CONTROLLER_GEN) rbac:roleName=elasti-operator paths=./operator/... output:rbac:artifacts:config=manifests/base/rbac/operator
	cp manifests/base/crd/elasti.dev_elastiservices.yaml charts/elasti/crds/
	cp manifests/base/rbac/operator/role.yaml charts/elasti/templates/operator/role.yaml

.PHONY: fmt
fmt: ## gofmt every Go file.
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet (including the build-tagged integration, e2e, black-box and chart tests).
	$(GO) vet -tags integration,e2e,blackbox,chart ./...

.PHONY: build
build: ## Build operator, webhook and sidecar into bin/.
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ ./cmd/...

##@ Test
.PHONY: test
test: test-unit test-integration test-chart ## Unit, integration and chart tests (the README's test command).

.PHONY: test-unit
test-unit: ## Unit tests (fast, no API server).
	$(GO) test -count=1 -short ./...

.PHONY: test-integration
test-integration: envtest-assets ## Integration tests against a real kube-apiserver and etcd (envtest).
	KUBEBUILDER_ASSETS="$$(hack/build-k8s.sh etcd kube-apiserver | tail -1)" \
	  $(GO) test -count=1 -tags integration -run Integration ./...

.PHONY: test-chart
test-chart: ## The Helm chart renders what kustomize renders, and its schema rejects bad values (builds helm and kubectl, cached).
	HELM="$$(hack/build-helm.sh | tail -1)" KUBECTL="$$(hack/build-k8s.sh kubectl | tail -1)/kubectl" \
	  $(GO) test -count=1 -tags chart ./test/chart/

.PHONY: helm
helm: ## Build helm from source (hack/build-helm.sh; cached under $ELASTI_CACHE/helm/HELM_VERSION).
	hack/build-helm.sh

.PHONY: test-blackbox
test-blackbox: envtest-assets ## Slow black-box tests (in CI): built sidecar (1,000 held requests, 1,000 held h2c uploads in bounded RSS, 1 GiB at flat RSS, SIGTERM drain), built webhook against a real API server, 200 MiB through the sidecar in constant memory.
	$(GO) test -count=1 -run '^TestLargeBodiesInConstantMemory$$' ./sidecar/
	$(GO) test -count=1 -tags blackbox ./test/blackbox/...
	KUBEBUILDER_ASSETS="$$(hack/build-k8s.sh etcd kube-apiserver | tail -1)" \
	  $(GO) test -count=1 -tags blackbox -run '^TestBlackbox$$' ./webhook/

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver and etcd from source (cached under $ELASTI_CACHE).
	hack/build-k8s.sh etcd kube-apiserver >/dev/null

.PHONY: bench
bench: ## Benchmarks of the hot paths (compare runs with benchstat).
	$(GO) test -run '^$$' -bench . -benchmem ./...

##@ Verify
.PHONY: verify
verify: generate manifests shellcheck ## Generated files up to date, gofmt clean, vet clean, shell scripts clean.
	@test -z "$$(gofmt -s -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -s -l $$(git ls-files '*.go'); exit 1; }
	@git diff --exit-code -- api manifests charts || { echo "generated files are stale: run 'make generate manifests' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- api manifests charts)" || { echo "untracked generated files:"; git status --porcelain -- api manifests charts; exit 1; }
	$(GO) vet -tags integration,e2e,blackbox,chart ./...

SHELL_SCRIPTS = $$(git ls-files '*.sh' .ci/run)
.PHONY: shellcheck
shellcheck: ## shellcheck every shell script (settings in .shellcheckrc).
	@hack/deps/deps.sh ensure ci
	shellcheck $(SHELL_SCRIPTS)

##@ Tools
$(CONTROLLER_GEN):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/controller-gen $(CONTROLLER_GEN)

# Component makefiles (cluster, images, demo, e2e, ...) add their own targets here.
-include hack/make/*.mk

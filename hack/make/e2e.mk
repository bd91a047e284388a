# End-to-end suite and benchmark. See docs/e2e.md and docs/benchmarks.md.
# Both take a cluster through KUBECONFIG (default: the local cluster of hack/cluster) with Elasti
# installed and the images loaded, and must run on a node of it (they dial pod IPs and ClusterIPs).
# test-e2e loads the e2e images into the local cluster's containerd, or into kind when KIND_CLUSTER
# is set; for any other cluster, load them yourself and set E2E_SKIP_IMAGE_LOAD=1.

E2E_KUBECONFIG ?= $(if $(KUBECONFIG),$(KUBECONFIG),$(ELASTI_CACHE)/cluster/kubeconfig)
E2E_RUN        ?= .
E2E_TIMEOUT    ?= 45m
E2E_FLAGS      ?=
BENCH_FLAGS    ?=

##@ End-to-end
.PHONY: e2e-images
e2e-images: ## Build and load the e2e-only images (gRPC echo server, Prometheus built from source).
	test/e2e/images.sh all

.PHONY: test-e2e
test-e2e: e2e-images ## Run the e2e suite (E2E_RUN=regexp to select scenarios) against KUBECONFIG or the local cluster.
	KUBECONFIG=$(E2E_KUBECONFIG) $(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -v -run '$(E2E_RUN)' ./test/e2e/ $(E2E_FLAGS)

.PHONY: bench-e2e
bench-e2e: ## Cold-start, forward-path and memory benchmark; writes docs/benchmarks.md and bin/bench.json.
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/elasti-bench ./cmd/elasti-bench
	KUBECONFIG=$(E2E_KUBECONFIG) $(BIN)/elasti-bench -json $(BIN)/bench.json -markdown docs/benchmarks.md $(BENCH_FLAGS)

# End-to-end suite and benchmark. See docs/e2e.md and docs/benchmarks.md.
# Both take a cluster through KUBECONFIG (default: the cluster of ELASTI_CLUSTER_PROVIDER, see
# docs/cluster.md) with Elasti installed and the images loaded, and must run on a node of it (they
# dial pod IPs and ClusterIPs): on the local cluster that is this machine; on kind,
# hack/cluster/on-node.sh runs the compiled suite or benchmark inside the node container.
# test-e2e loads the e2e images into the provider's cluster; for any other cluster, load them
# yourself and set E2E_SKIP_IMAGE_LOAD=1.

E2E_KUBECONFIG ?= $(if $(KUBECONFIG),$(KUBECONFIG),$(CLUSTER_KUBECONFIG))
E2E_RUN        ?= .
E2E_TIMEOUT    ?= 55m
E2E_FLAGS      ?=
BENCH_FLAGS    ?=

##@ End-to-end
.PHONY: e2e-images
e2e-images: ## Build and load the e2e-only images (gRPC echo server, Prometheus built from source).
	test/e2e/images.sh all

.PHONY: test-e2e
test-e2e: e2e-images ## Run the e2e suite (E2E_RUN=regexp to select scenarios) against KUBECONFIG or the local cluster.
	@if [ "$$(hack/cluster/provider.sh)" = kind ]; then \
	  mkdir -p $(BIN) && CGO_ENABLED=0 $(GO) test -c -tags e2e -o $(BIN)/e2e.test ./test/e2e/ && \
	  echo "running the suite inside the kind node (hack/cluster/on-node.sh)" && \
	  hack/cluster/on-node.sh $(BIN)/e2e.test -test.count=1 -test.timeout $(E2E_TIMEOUT) -test.v -test.run '$(E2E_RUN)' $(E2E_FLAGS); \
	else \
	  KUBECONFIG=$(E2E_KUBECONFIG) $(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -v -run '$(E2E_RUN)' ./test/e2e/ $(E2E_FLAGS); \
	fi

.PHONY: bench-e2e
bench-e2e: ## Cold-start, forward-path and memory benchmark; writes docs/benchmarks.md and bin/bench.json.
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -o $(BIN)/elasti-bench ./cmd/elasti-bench
	KUBECONFIG=$(E2E_KUBECONFIG) hack/cluster/on-node.sh $(BIN)/elasti-bench -json $(BIN)/bench.json -markdown $(CURDIR)/docs/benchmarks.md $(BENCH_FLAGS)

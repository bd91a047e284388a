##@ Webhook
WEBHOOK_PKGS := ./webhook/... ./cmd/webhook/...

.PHONY: webhook-test
webhook-test: ## Webhook unit tests (golden files, truth table, handler, certs, controllers).
	$(GO) test -count=1 -short $(WEBHOOK_PKGS)

.PHONY: webhook-golden
webhook-golden: ## Refresh webhook/internal/inject/testdata/*.injected.yaml after an intended change.
	$(GO) test ./webhook/internal/inject -run TestGolden -update

.PHONY: webhook-integration
webhook-integration: envtest-assets ## Webhook integration tests: the real API server calls the handler over TLS.
	KUBEBUILDER_ASSETS="$$(hack/build-k8s.sh etcd kube-apiserver | tail -1)" \
	  $(GO) test -count=1 -tags integration -run Integration $(WEBHOOK_PKGS)

.PHONY: webhook-blackbox
webhook-blackbox: envtest-assets ## Build cmd/webhook and run it against a real API server; logs latency and metrics.
	KUBEBUILDER_ASSETS="$$(hack/build-k8s.sh etcd kube-apiserver | tail -1)" \
	  $(GO) test -count=1 -tags blackbox -run TestBlackbox -v ./webhook/

.PHONY: webhook-bench
webhook-bench: ## Handler benchmark with p50/p99 (compare runs with benchstat).
	$(GO) test -run '^$$' -bench BenchmarkHandler -benchmem -count=5 ./webhook/internal/admission

.PHONY: webhook-fuzz
webhook-fuzz: ## Fuzz every webhook parser for FUZZTIME each (default 10s).
	@for t in FuzzDecodeReview FuzzServeHTTP; do $(GO) test ./webhook/internal/admission -run '^$$' -fuzz "^$$t$$" -fuzztime=$${FUZZTIME:-10s} || exit 1; done
	@for t in FuzzParseOverrides FuzzMutate FuzzParseStatus; do $(GO) test ./webhook/internal/inject -run '^$$' -fuzz "^$$t$$" -fuzztime=$${FUZZTIME:-10s} || exit 1; done

##@ Operator
.PHONY: test-operator
test-operator: envtest-assets ## Operator unit and integration tests only (controller, elastiserver, cmd/operator black box).
	$(GO) test -count=1 -short ./operator/... ./pkg/scaling/...
	KUBEBUILDER_ASSETS="$$(hack/build-k8s.sh etcd kube-apiserver | tail -1)" \
	  $(GO) test -count=1 -tags integration -run Integration ./operator/... ./pkg/scaling/...

.PHONY: update-golden-operator
update-golden-operator: ## Rewrite the operator's golden files (generated EndpointSlices).
	$(GO) test ./operator/internal/controller -run Golden -update

BENCH_SCALE_SERVICES ?= 1000
BENCH_SCALE_WORKERS ?= 1,8,16
.PHONY: bench-scale
bench-scale: envtest-assets ## At 1,000 Services (envtest): a gateway churn, the operator's share (every proxy slice dropping a deleted gateway and listing its replacement, per --reconcile-workers, with each process's CPU); a scale-down poll of 1,000 Prometheus triggers against a real Prometheus (built from source, cached); the built operator's leader RSS and wake round trip. Writes their sections of docs/benchmarks.md.
	KUBEBUILDER_ASSETS="$$(hack/build-k8s.sh etcd kube-apiserver | tail -1)" \
	ELASTI_PROMETHEUS_BIN="$$(hack/prometheus/build.sh | tail -1)" \
	ELASTI_SCALE_SERVICES=$(BENCH_SCALE_SERVICES) ELASTI_SCALE_WORKERS=$(BENCH_SCALE_WORKERS) \
	ELASTI_SCALE_MARKDOWN=$(CURDIR)/docs/benchmarks.md \
	  $(GO) test -count=1 -timeout 30m -tags integration -run '^(TestIntegrationGatewayChurnAtScale|TestScaleDownPollAtScale|TestOperatorAtScale)$$' -p 1 -v \
	  ./operator/internal/controller/ ./operator/ \
	  | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|scale_integration_test|scalepoll_integration_test'

##@ Operator
.PHONY: test-operator
test-operator: envtest-assets ## Operator unit and integration tests only (controller, elastiserver, cmd/operator black box).
	$(GO) test -count=1 -short ./operator/... ./pkg/scaling/...
	KUBEBUILDER_ASSETS="$$(hack/build-k8s.sh etcd kube-apiserver | tail -1)" \
	  $(GO) test -count=1 -tags integration -run Integration ./operator/... ./pkg/scaling/...

.PHONY: update-golden-operator
update-golden-operator: ## Rewrite the operator's golden files (generated EndpointSlices).
	$(GO) test ./operator/internal/controller -run Golden -update

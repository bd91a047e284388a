##@ Sidecar
.PHONY: test-sidecar
test-sidecar: ## Sidecar unit and loopback tests (race detector on).
	$(GO) test -count=1 -race ./sidecar/... ./cmd/sidecar/...

.PHONY: fuzz-sidecar
fuzz-sidecar: ## Fuzz the sidecar's Host parser for FUZZTIME (default 30s).
	$(GO) test ./sidecar/internal/hosts -run '^$$' -fuzz FuzzParse -fuzztime $${FUZZTIME:-30s}

.PHONY: bench-sidecar
bench-sidecar: ## Benchmarks of the forward path against a direct connection (benchstat-ready).
	$(GO) test ./sidecar/internal/proxy -run '^$$' -bench . -benchmem -count 6

.PHONY: blackbox-sidecar
blackbox-sidecar: ## Build cmd/sidecar and run it against a stub operator: 1,000 held requests, 1 GiB body, SIGTERM drain.
	$(GO) test -tags blackbox -count=1 -v ./test/blackbox/sidecar/ 2>&1 | grep -E 'FIGURES|^(---|ok|FAIL|PASS)'

.PHONY: bench-forward
bench-forward: ## Sidecar forward path vs nginx on loopback (CPU per request, req/s, latency; installs Debian's nginx when missing); writes its section of docs/benchmarks.md.
	hack/bench-forward.sh $(BENCH_FORWARD_FLAGS)

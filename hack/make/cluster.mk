# Local cluster, images, install manifests and the demo. See docs/cluster.md, docs/install.md and
# docs/demo.md.

OVERLAY              ?= self-managed
OVERLAYS             := cert-manager self-managed
CERT_MANAGER_VERSION ?= v1.21.2
K8S_BIN              := $(ELASTI_CACHE)/k8s/$(K8S_VERSION)/bin
# The kubeconfig of the provider's cluster (ELASTI_CLUSTER_PROVIDER=local|kind, auto by default;
# docs/cluster.md). Recursive: asked when a target needs it, after cluster-up.
CLUSTER_KUBECONFIG    = $(shell hack/cluster/kubeconfig.sh)
# install/uninstall target that cluster unless INSTALL_KUBECONFIG names another one.
INSTALL_KUBECONFIG   ?= $(CLUSTER_KUBECONFIG)
KUBECTL              := $(K8S_BIN)/kubectl

##@ Cluster
.PHONY: cluster-up
cluster-up: ## Start (or complete) the cluster of ELASTI_CLUSTER_PROVIDER (local|kind, auto by default); prints the kubeconfig path and phase timings.
	hack/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop the cluster and remove everything it created (local: processes, mounts, netns, rules, interfaces; kind: cluster, network, the project's Docker engine).
	hack/cluster/down.sh

.PHONY: cluster-status
cluster-status: ## List what of the local cluster exists on this machine (processes, mounts, rules, interfaces).
	hack/cluster/status.sh

.PHONY: images
images: ## Build static binaries and pack OCI image archives into bin/images/*.tar (no Docker).
	hack/images/build.sh

.PHONY: load-images
load-images: ## Import bin/images/*.tar into the cluster (local: its containerd; kind: kind load image-archive).
	hack/images/load.sh

.PHONY: dist
dist: $(KUBECTL) ## Render dist/install-<overlay>.yaml for every overlay (kubectl kustomize).
	@mkdir -p dist
	@for o in $(OVERLAYS); do \
	  $(KUBECTL) kustomize manifests/overlays/$$o > dist/install-$$o.yaml.tmp && mv dist/install-$$o.yaml.tmp dist/install-$$o.yaml && \
	  echo "dist/install-$$o.yaml: $$(grep -c '^kind:' dist/install-$$o.yaml) objects"; \
	done

.PHONY: install
install: dist ## Apply dist/install-OVERLAY.yaml (OVERLAY=self-managed by default, or cert-manager) and wait for Elasti to be ready.
	KUBECONFIG=$(INSTALL_KUBECONFIG) KUBECTL=$(KUBECTL) hack/cluster/install.sh install dist/install-$(OVERLAY).yaml

.PHONY: uninstall
uninstall: dist ## Delete what install applied (the ElastiServices first, so Services are restored).
	KUBECONFIG=$(INSTALL_KUBECONFIG) KUBECTL=$(KUBECTL) hack/cluster/install.sh uninstall dist/install-$(OVERLAY).yaml

.PHONY: manifests-dry-run
manifests-dry-run: dist ## Server-side dry-run of every object of every overlay against the local cluster (cert-manager CRDs installed for it).
	KUBECONFIG=$(CLUSTER_KUBECONFIG) KUBECTL=$(KUBECTL) CERT_MANAGER_VERSION=$(CERT_MANAGER_VERSION) \
	  hack/cluster/install.sh dry-run $(foreach o,$(OVERLAYS),dist/install-$(o).yaml)

.PHONY: demo
demo: ## From nothing: cluster up, images built and loaded, Elasti installed, a request waking a scaled-to-zero app.
	hack/demo.sh

$(KUBECTL):
	hack/build-k8s.sh kubectl >/dev/null

.PHONY: kind-node-image
kind-node-image: ## Build the kind node image from source (cached under $ELASTI_CACHE/kind; needs a Docker engine, see hack/kind/dockerd.sh).
	hack/kind/node-image.sh node

.PHONY: docker-images
docker-images: ## Build the same images with Docker (hack/docker/Dockerfile), for machines with a Docker engine.
	hack/docker/build.sh

# Packgate: `make demo` runs it on a local cluster, `make test` runs every test tier.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
BIN     := $(CURDIR)/.local/bin
export PATH := $(BIN):$(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONPATH := $(CURDIR)/hack
KUBECONFIG_LOCAL := $(CURDIR)/.local/kubeconfig
PYTEST  := $(PY) -m pytest

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# -- set-up ------------------------------------------------------------------------------------

.PHONY: deps
deps: ## install system packages (PostgreSQL, shellcheck, ...) that are missing
	@hack/install-deps.sh

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==25.3
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## the Python virtualenv with Packgate and its dev tools

.PHONY: k8s
k8s: ## build (or reuse) the Kubernetes binaries: control plane, kubectl, kubelet, kube-proxy, etcd
	@hack/build-k8s.sh

.PHONY: node
node: ## build (or reuse) containerd, runc and CoreDNS
	@hack/build-node.sh

.PHONY: setup
setup: deps venv k8s node ## everything the demo and the tests need

# -- local cluster and database ----------------------------------------------------------------

.PHONY: cluster-up
cluster-up: setup ## start the local control plane and real node (.local/kubeconfig)
	@$(PY) -m localcluster up

.PHONY: cluster-down
cluster-down: ## stop the local cluster
	@$(PY) -m localcluster down

.PHONY: db-up
db-up: setup ## start the local PostgreSQL (.local/database-url)
	@$(PY) -m localpg up >/dev/null

.PHONY: db-down
db-down: ## stop the local PostgreSQL
	@$(PY) -m localpg down

.PHONY: demo
demo: setup ## run Packgate on the local cluster with the example packs
	@$(PY) hack/demo.py up

.PHONY: down
down: ## stop everything `make demo` started
	@$(PY) hack/demo.py down

# -- checks --------------------------------------------------------------------------------------

.PHONY: lint
lint: venv ## ruff, mypy and the import-layer contracts
	$(PY) -m ruff check operator tests hack bench
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

.PHONY: test-unit
test-unit: venv
	$(PYTEST) -m unit

.PHONY: test-db
test-db: setup
	$(PYTEST) -m db

.PHONY: test-cluster
test-cluster: setup
	$(PYTEST) -m cluster

.PHONY: test-e2e
test-e2e: setup
	$(PYTEST) -m e2e

.PHONY: test-drills
test-drills: setup
	$(PYTEST) -m drills -s

.PHONY: test-network
test-network: venv
	$(PYTEST) -m network

.PHONY: test-browser
test-browser: setup
	$(PYTEST) -m browser

.PHONY: test
test: setup lint test-unit test-db stop-demo test-cluster test-e2e test-drills test-browser test-network ## every tier: unit, database, cluster, e2e, drills, browser, network

# One machine holds one node: the test tiers start their own cluster, so a running demo goes first.
.PHONY: stop-demo
stop-demo:
	@$(PY) hack/demo.py down >/dev/null

.PHONY: bench
bench: setup stop-demo ## benchmarks (ratios against a baseline measured in the same run)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

.PHONY: kind
kind: ## the quickstart on kind (needs Docker and kind)
	@hack/kind-up.sh

.PHONY: clean
clean: down ## stop everything and remove .local/ (the build cache stays)
	rm -rf .local

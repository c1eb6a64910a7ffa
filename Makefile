# vast-operator: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-down test lint typecheck unit cluster cluster-down bootstrap crds bench soak image-test clean lock

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

bootstrap: $(STAMP) ## Python packages + control plane binaries (built only when missing)
	$(BIN)/python tests/controlplane/envtest.py ensure-binaries

lint: $(STAMP)
	$(BIN)/ruff check operator tests
	$(BIN)/ruff format --check operator tests
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

crds: $(STAMP) ## regenerate deploy/crds, the chart's CRD templates and deploy/argocd's health checks
	$(BIN)/vast-operator crds --write

test: bootstrap lint typecheck ## the whole suite (what .ci/run runs)
	$(BIN)/pytest -ra

unit: $(STAMP)
	$(BIN)/pytest -ra -m 'not cluster'

cluster: bootstrap ## start the local control plane in the background; writes .dev/kubeconfig
	$(BIN)/python tests/controlplane/envtest.py up --state-dir .dev

cluster-down:
	@test -x $(BIN)/python && $(BIN)/python tests/controlplane/envtest.py down --state-dir .dev || true

demo: cluster ## control plane + simulator + operator + example objects
	$(BIN)/python tests/controlplane/demo.py up --state-dir .dev

demo-down:
	@test -x $(BIN)/python && $(BIN)/python tests/controlplane/demo.py down --state-dir .dev || true
	@$(MAKE) --no-print-directory cluster-down

bench: bootstrap
	$(BIN)/python tests/bench/run.py $(ARGS)

# Random operations and faults with invariants checked every second (docs/reliability.md), e.g.
# make soak ARGS='--duration 3600 --objects 40 --seed 7'
soak: bootstrap
	$(BIN)/python tests/soak/driver.py $(ARGS)

image-test: bootstrap
	$(BIN)/pytest -ra tests/image

clean: demo-down
	rm -rf .dev

# The image's Python dependencies, pinned with hashes (docs/image.md). pip-compile runs from its
# own virtualenv in the cache (made once), with Python 3.11 like the image.
LOCK := operator/requirements.lock
LOCK_PY ?= python3.11
PIP_TOOLS_VERSION := 7.6.2
LOCK_VENV := $(or $(VAST_OPERATOR_CACHE),$(HOME)/.cache/vast-operator)/venvs/pip-tools-$(PIP_TOOLS_VERSION)

lock: ## re-resolve operator/requirements.lock from pyproject.toml (newest allowed versions)
	@test -x $(LOCK_VENV)/bin/pip-compile || { $(LOCK_PY) -m venv $(LOCK_VENV) \
		&& $(LOCK_VENV)/bin/pip install -q pip-tools==$(PIP_TOOLS_VERSION); }
	PIP_FIND_LINKS= CUSTOM_COMPILE_COMMAND='make lock' $(LOCK_VENV)/bin/pip-compile --quiet \
		--upgrade --generate-hashes --allow-unsafe --strip-extras --build-deps-for wheel \
		--no-emit-find-links --no-emit-index-url --no-emit-trusted-host \
		--output-file $(LOCK) pyproject.toml

# kind: the operator as a Pod, installed by Helm, in a kind cluster whose node image is built
# here without a registry (docs/kind.md). Needs root and Docker (imagekit installs docker.io).
.PHONY: kind kind-down kind-test

kind: bootstrap ## kind cluster + operator image + helm install (simulator) + examples ready
	$(BIN)/python tests/kindkit/kind.py up --state-dir .dev

kind-down:
	@test -x $(BIN)/python && $(BIN)/python tests/kindkit/kind.py down --state-dir .dev || true

kind-test: bootstrap ## only the kind suite (its own cluster, deleted afterwards)
	$(BIN)/pytest -ra tests/kind

# Two commands for a newcomer: `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := openssh-server etcd-server etcd-client cloud-init iproute2 sudo
PYTEST_ARGS ?=

.PHONY: setup test lint typecheck importlint crdcheck crds pytest demo clean

setup: $(VENV)/.installed .apt-installed

# Re-runs only when the dependency list changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# The Debian packages the tests need (sshd, etcd, cloud-init's schema checker, ip netns).
# Only root can install them; other users get the tests that need them skipped with a reason.
.apt-installed:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
		if [ -n "$$missing" ]; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		fi; \
	else echo "not root: skipping Debian packages ($(APT_PACKAGES))"; fi
	touch $@

lint: setup
	$(BIN)/ruff check k0smotron_core providers tests bench

typecheck: setup
	$(BIN)/mypy k0smotron_core providers

crdcheck: setup
	$(BIN)/python -m k0smotron_core.crdgen --check

importlint: setup
	$(BIN)/lint-imports

pytest: setup
	$(BIN)/pytest -q $(PYTEST_ARGS)

test: setup lint typecheck importlint crdcheck pytest

# The main use case end to end: management cluster, CAPI core, the three providers, a simulated SSH host,
# examples/hcp-remote-machine.yaml applied and watched until Ready (docs/demo.md). Simulated hosts need root.
demo: setup
	$(BIN)/k0smotron-dev up

clean:
	rm -rf $(VENV) .apt-installed .pytest_cache .mypy_cache .ruff_cache

# Regenerate crds/ (and envtest's CAPI core CRDs) from the models.
crds: setup
	$(BIN)/python -m k0smotron_core.crdgen

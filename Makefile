# Set-up and the two jobs the README starts with.  Everything comes from PyPI (and the
# toolchain cache meshwasm fills on first build: see compiler/meshwasm/build/toolchain).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench bench-lean registry

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

EXAMPLES := $(patsubst examples/%/filter.py,%,$(wildcard examples/*/filter.py))

# Main job: build the example filters, replay their traffic in the harness, show verdicts.
demo: setup
	@for name in $(EXAMPLES); do \
	  echo "== examples/$$name"; \
	  $(BIN)/meshwasm build examples/$$name/filter.py -o build/$$name.wasm || exit 1; \
	  $(BIN)/meshwasm replay build/$$name.wasm examples/$$name/traffic.yaml || exit 1; \
	done

# The OCI registry the distribution tests push to (Debian's CNCF distribution build).
REGISTRY_BIN := /usr/bin/docker-registry
registry: $(REGISTRY_BIN)

$(REGISTRY_BIN):
	apt-get install -y -q docker-registry || (apt-get update -q && apt-get install -y -q docker-registry)
	# the package enables a system service; our tests start their own registry per test
	-systemctl disable --now docker-registry >/dev/null 2>&1

test: setup registry
	$(BIN)/python -m pytest -q

# LEAN_ARGS: e.g. --quick, --only cpu, --json lean.json (see bench/lean_runtime.py)
LEAN_ARGS ?=
bench: setup
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/request_cost.py
	$(BIN)/python bench/harness_throughput.py
	$(BIN)/python bench/lean_runtime.py $(LEAN_ARGS)

# Only issue 8's targets (lean runtime): `make bench-lean LEAN_ARGS=--quick` for a smoke run.
bench-lean: setup
	$(BIN)/python bench/lean_runtime.py $(LEAN_ARGS)

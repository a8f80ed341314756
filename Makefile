# Set-up and the two jobs the README starts with.  Everything comes from PyPI (and the
# toolchain cache meshwasm fills on first build: see compiler/meshwasm/builder/toolchain).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test docs bench bench-lean registry debian-sources

setup: $(VENV)/.installed debian-sources

# testkit/: the tests' and benchmarks' own helpers (registry, native peers, ...), a package
# of its own so that an installed meshwasm does not carry them.
$(VENV)/.installed: pyproject.toml testkit/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]' -e ./testkit
	touch $@

# The first build compiles CPython for wasm32-wasi from its source tarball, which meshwasm
# fetches with `apt-get source python3.11` (sha256-checked).  apt needs a deb-src entry for
# that: the same mirrors apt already uses.  Skipped where apt is missing or a local tarball is
# given ($$MESHWASM_CPYTHON_SOURCE); needs root like the registry below.
DEB_SRC := /etc/apt/sources.list.d/meshwasm-deb-src.sources
debian-sources:
	@if [ -z "$$MESHWASM_CPYTHON_SOURCE" ] && command -v apt-get >/dev/null \
	    && [ ! -e $(DEB_SRC) ] && [ -w /etc/apt/sources.list.d ]; then \
	  for f in /etc/apt/sources.list.d/*.sources; do [ -e "$$f" ] || continue; \
	    sed -e 's/^Types: deb$$/Types: deb-src/' "$$f"; echo; done > $(DEB_SRC).tmp; \
	  grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | sed -e 's/^deb /deb-src /' \
	    > $(DEB_SRC:.sources=.list); \
	  mv $(DEB_SRC).tmp $(DEB_SRC) && apt-get update -q >/dev/null; \
	fi

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

# The API reference: the SDK a filter imports, and the pytest plugin's fixtures, from their
# docstrings (pdoc; reStructuredText, as the docstrings are written).  Open
# build/docs/api/index.html.
API_OUT ?= build/docs/api
API_MODULES := proxy_wasm proxy_wasm.config_schema proxy_wasm.foreign proxy_wasm.limits \
	proxy_wasm.resources proxy_wasm.headers proxy_wasm.context proxy_wasm.types \
	meshwasm.pytest_plugin meshwasm.plugin_config
docs: $(VENV)/.installed
	$(BIN)/pdoc --docformat restructuredtext --no-show-source -o $(API_OUT) $(API_MODULES)
	@echo "API reference: $(API_OUT)/index.html"

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

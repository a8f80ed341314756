# Set-up and the two jobs the README starts with.  Everything comes from PyPI (and the
# toolchain cache meshwasm fills on first build: see compiler/meshwasm/build/toolchain).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench registry

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

# Main job: build the example filters, replay their traffic in the harness, show verdicts.
demo: setup
	$(BIN)/meshwasm build examples/hello/filter.py -o build/hello.wasm
	$(BIN)/meshwasm replay build/hello.wasm examples/hello/traffic.yaml

# The OCI registry the distribution tests push to (Debian's CNCF distribution build).
REGISTRY_BIN := /usr/bin/docker-registry
registry: $(REGISTRY_BIN)

$(REGISTRY_BIN):
	apt-get install -y -q docker-registry || (apt-get update -q && apt-get install -y -q docker-registry)
	# the package enables a system service; our tests start their own registry per test
	-systemctl disable --now docker-registry >/dev/null 2>&1

test: setup registry
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/startup.py

# Set-up and the two jobs the README starts with.  Everything comes from PyPI (and the
# toolchain cache meshwasm fills on first build: see compiler/meshwasm/build/toolchain).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

# Main job: build the example filters, replay their traffic in the harness, show verdicts.
demo: setup
	$(BIN)/meshwasm build examples/hello/filter.py -o build/hello.wasm
	$(BIN)/meshwasm replay build/hello.wasm examples/hello/traffic.yaml

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/startup.py

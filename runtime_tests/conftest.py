"""Fixtures shared by the runtime suites."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm_testkit.raw_c_filter import compile_raw_c_filter

RUNTIME_TESTS = Path(__file__).resolve().parent
PROJECT = RUNTIME_TESTS.parent


@pytest.fixture(scope="session")
def c_filter_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The raw-ABI C filter (runtime_tests/other_sdk/hello_c.c), built once per session."""
    out = tmp_path_factory.mktemp("c_filter") / "hello_c.wasm"
    return compile_raw_c_filter(RUNTIME_TESTS / "other_sdk" / "hello_c.c", out)

"""Fixtures of the jwt_authn suites: test keys (once per session) and the built module."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.builder.pipeline import build_filter

from ..conftest import PROJECT
from .tokens import KeySet

FILTER = PROJECT / "filters" / "jwt_authn" / "filter.py"


@pytest.fixture(scope="session")
def test_keys() -> KeySet:
    return KeySet()


@pytest.fixture(scope="session")
def jwt_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("jwt_authn") / "jwt_authn.wasm"
    build_filter(FILTER, out)
    return out

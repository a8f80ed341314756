"""jwt_authn gives the same verdicts in source mode as in compiled mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.harness import replay_module
from meshwasm.harness.source import replay_source
from meshwasm.replay.expect import evaluate

from ..conftest import PROJECT
from ..verdict_compare import comparable
from .scenarios import HARNESS_NOW, HERE, render
from .tokens import KeySet


@pytest.mark.parametrize("scenario", ["scenarios.yaml", "remote_jwks.yaml", "harness_only.yaml"])
def test_source_mode_agrees_with_the_compiled_module(jwt_wasm: Path, test_keys: KeySet,
                                                     tmp_path: Path, scenario: str) -> None:
    traffic, _ = render(test_keys, HERE / scenario, tmp_path, HARNESS_NOW)
    source = replay_source(PROJECT / "filters" / "jwt_authn" / "filter.py", traffic)
    compiled = replay_module(jwt_wasm, traffic)
    assert [comparable(v) for v in source] == [comparable(v) for v in compiled]
    assert {o.exchange.name: o.mismatches for o in evaluate(traffic, source) if o.mismatches} == {}

"""jwt_authn scenarios replayed in the harness (tokens made relative to its virtual clock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.harness import replay_module
from meshwasm.replay.expect import evaluate

from .scenarios import HARNESS_NOW, HERE, render
from .tokens import KeySet


@pytest.mark.parametrize("scenario", ["scenarios.yaml", "remote_jwks.yaml", "harness_only.yaml"])
def test_scenarios_pass_in_the_harness(jwt_wasm: Path, test_keys: KeySet, tmp_path: Path,
                                       scenario: str) -> None:
    traffic, _ = render(test_keys, HERE / scenario, tmp_path, HARNESS_NOW)
    outcomes = evaluate(traffic, replay_module(jwt_wasm, traffic))
    failing = {o.exchange.name: o.mismatches for o in outcomes if o.mismatches}
    assert failing == {}

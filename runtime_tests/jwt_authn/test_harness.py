"""jwt_authn scenarios replayed in the harness."""

from __future__ import annotations

from pathlib import Path

from meshwasm.harness import replay_module
from meshwasm.replay.expect import evaluate

from .scenarios import HARNESS_NOW, HERE, render
from .tokens import KeySet


def test_scenarios_pass_in_the_harness(jwt_wasm: Path, test_keys: KeySet,
                                       tmp_path: Path) -> None:
    traffic, _ = render(test_keys, HERE / "scenarios.yaml", tmp_path, HARNESS_NOW)
    outcomes = evaluate(traffic, replay_module(jwt_wasm, traffic))
    failing = {o.exchange.name: o.mismatches for o in outcomes if o.mismatches}
    assert failing == {}

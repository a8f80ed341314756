"""jwt_authn scenarios replayed in the harness (tokens made relative to its virtual clock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.harness import foreign, replay_module
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


def test_scenarios_pass_when_the_proxy_has_no_verify_signature(
        jwt_wasm: Path, test_keys: KeySet, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """RS256 goes to the proxy's verify_signature when it has one (Envoy does); a proxy
    without it answers NotFound and the filter verifies in Python, with the same verdicts."""
    monkeypatch.setattr(foreign, "FOREIGN_FUNCTIONS", {})
    traffic, _ = render(test_keys, HERE / "scenarios.yaml", tmp_path, HARNESS_NOW)
    outcomes = evaluate(traffic, replay_module(jwt_wasm, traffic))
    assert {o.exchange.name: o.mismatches for o in outcomes if o.mismatches} == {}

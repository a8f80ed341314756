"""The shipped rate-limit and fault filters give the same verdicts in source mode as in
compiled mode, on every scenario the harness replays (JWT: runtime_tests/jwt_authn)."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.builder.pipeline import build_filter
from meshwasm.harness import replay_module
from meshwasm.harness.source import replay_source
from meshwasm.replay.expect import evaluate
from meshwasm.replay.traffic import load_traffic

from .conftest import PROJECT, RUNTIME_TESTS
from .fault.test_fault import HARNESS_SCENARIOS as FAULT_SCENARIOS
from .verdict_compare import comparable

RATE_LIMIT_SCENARIOS = sorted((RUNTIME_TESTS / "rate_limit").glob("*.yaml")) + sorted(
    (RUNTIME_TESTS / "rate_limit" / "harness_only").glob("*.yaml"))
CASES = [("rate_limit", path) for path in RATE_LIMIT_SCENARIOS] + [
    ("fault", RUNTIME_TESTS / "fault" / name) for name in FAULT_SCENARIOS]


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("filters")
    return {name: build_filter(PROJECT / "filters" / name / "filter.py",
                               out / f"{name}.wasm").output for name in ("rate_limit", "fault")}


@pytest.mark.parametrize("name, scenario", CASES, ids=lambda value: getattr(value, "stem", value))
def test_source_mode_agrees_with_the_compiled_module(modules: dict[str, Path], name: str,
                                                     scenario: Path) -> None:
    traffic = load_traffic(scenario)
    source = replay_source(PROJECT / "filters" / name / "filter.py", traffic)
    compiled = replay_module(modules[name], traffic)
    assert [comparable(v) for v in source] == [comparable(v) for v in compiled]
    assert [o.mismatches for o in evaluate(traffic, source)] == [[] for _ in source]

"""Time passing while a stream is paused, gRPC local replies and http_call answers that come
late, time out or reset: the probe filter (harness_time/filter.py) replayed in the harness in
compiled and source mode (same verdicts), and the same traffic in a real Envoy (same
statuses, bodies and gRPC headers; elapsed_ms checked on the wall clock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.builder.pipeline import build_filter
from meshwasm.deploy.envoy.replay import replay_in_envoy
from meshwasm.harness import replay_module
from meshwasm.harness.source import replay_source
from meshwasm.replay.expect import evaluate
from meshwasm.replay.model import Verdict
from meshwasm.replay.traffic import load_traffic

from .conftest import RUNTIME_TESTS

HERE = RUNTIME_TESTS / "harness_time"
FILTER = HERE / "filter.py"
SCENARIOS = ["traffic.yaml", "stalled.yaml"]  # stalled.yaml lasts 5 minutes: harness only

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_filter(FILTER, tmp_path_factory.mktemp("harness_time") / "probe.wasm").output


def _visible(verdict: Verdict) -> tuple[object, ...]:
    headers = [(name, value) for name, value in verdict.headers if name != "date"]
    return (verdict.status, headers, verdict.body, verdict.elapsed_ms,
            verdict.upstream_request is None, [line.message for line in verdict.logs])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_compiled_and_source_mode_pass_alike(module: Path, scenario: str) -> None:
    traffic = load_traffic(HERE / scenario)
    compiled = replay_module(module, traffic)
    source = replay_source(FILTER, traffic)
    for verdicts in (compiled, source):
        assert [o.mismatches for o in evaluate(traffic, verdicts)] == [[] for _ in verdicts]
    assert [_visible(v) for v in compiled] == [_visible(v) for v in source]


def test_virtual_time_is_exact(module: Path) -> None:
    traffic = load_traffic(HERE / "traffic.yaml")
    elapsed = {e.name: v.elapsed_ms for e, v in zip(traffic.exchanges,
                                                    replay_module(module, traffic))}
    assert elapsed["held 150 ms, resumed by the root from on_tick"] == 150
    assert elapsed["an http_call past its timeout gets Envoy's 504 at the timeout"] == 300
    assert elapsed["gRPC local reply to a gRPC request"] == 0


@pytest.mark.envoy
def test_envoy_agrees(module: Path) -> None:
    traffic = load_traffic(HERE / "traffic.yaml")
    envoy = replay_in_envoy(module, traffic)
    assert [o.mismatches for o in evaluate(traffic, envoy)] == [[] for _ in envoy]
    for exchange, mine, theirs in zip(traffic.exchanges, replay_module(module, traffic), envoy):
        assert (mine.status, mine.body) == (theirs.status, theirs.body), exchange.name
        for name in ("content-type", "content-length", "grpc-status", "grpc-message"):
            assert mine.header(name) == theirs.header(name), (exchange.name, name)

"""A filter can no longer stall or bloat a proxy: the step budget per callback, the memory
ceiling per VM (``register(max_callback_steps=, max_memory_mb=)``) and Envoy's FAIL_RELOAD,
in the harness, in source mode and in a real Envoy."""

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

HERE = Path(__file__).resolve().parent / "limits"
ENGINES = ["harness", "source", pytest.param("envoy", marks=pytest.mark.envoy)]


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("limits")
    return {name: build_filter(HERE / f"{name}.py", out / f"{name}.wasm").output
            for name in ("runaway", "leak", "ticker", "fail_open", "c_loops")}


def _replay(engine: str, name: str, modules: dict[str, Path], traffic_name: str,
            policy: str = "FAIL_CLOSED") -> list[Verdict]:
    traffic = load_traffic(HERE / traffic_name)
    if engine == "source":
        return replay_source(HERE / f"{name}.py", traffic, failure_policy=policy)
    replay = replay_module if engine == "harness" else replay_in_envoy
    return replay(modules[name], traffic, failure_policy=policy)


def _mismatches(traffic_name: str, verdicts: list[Verdict]) -> list[list[str]]:
    return [outcome.mismatches for outcome in evaluate(load_traffic(HERE / traffic_name),
                                                       verdicts)]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_runaway_callback_fails_by_the_policy_and_the_vm_serves_on(
        engine: str, modules: dict[str, Path]) -> None:
    verdicts = _replay(engine, "runaway", modules, "runaway.traffic.yaml")
    assert _mismatches("runaway.traffic.yaml", verdicts) == [[]] * len(verdicts)
    error = next(line.message for line in verdicts[1].logs if line.level == "error")
    assert "in on_request_headers" in error and error.rstrip().endswith(
        "(loop iterations and calls; register(max_callback_steps=...) sets it)")


@pytest.mark.parametrize("engine", ["harness", pytest.param("envoy", marks=pytest.mark.envoy)])
def test_loops_inside_c_code_spend_the_budget(engine: str, modules: dict[str, Path]) -> None:
    """sum(range(10**12)), any(iter(int, 1)), big-int powers…: no eval loop step in sight.
    Source mode runs them in the host's CPython, which no budget can interrupt there."""
    verdicts = _replay(engine, "c_loops", modules, "c_loops.traffic.yaml")
    assert _mismatches("c_loops.traffic.yaml", verdicts) == [[]] * len(verdicts)
    assert [verdict.status for verdict in verdicts] == [500, 200] * (len(verdicts) // 2)


@pytest.mark.parametrize("engine", ENGINES)
def test_past_its_budget_a_fail_open_filter_lets_the_request_through(
        engine: str, modules: dict[str, Path]) -> None:
    verdicts = _replay(engine, "fail_open", modules, "fail_open.traffic.yaml")
    assert _mismatches("fail_open.traffic.yaml", verdicts) == [[]] * len(verdicts)
    assert verdicts[0].upstream_request is not None
    assert ("x-spins", "passed") not in verdicts[0].upstream_request.headers


@pytest.mark.parametrize("engine", ENGINES)
def test_a_runaway_tick_is_stopped_and_requests_are_served(engine: str,
                                                           modules: dict[str, Path]) -> None:
    verdicts = _replay(engine, "ticker", modules, "ticker.traffic.yaml")
    assert _mismatches("ticker.traffic.yaml", verdicts) == [[]] * len(verdicts)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("policy", ["FAIL_CLOSED", "FAIL_RELOAD"])
def test_a_filter_that_swallows_the_limit_loses_its_vm(engine: str, policy: str,
                                                       modules: dict[str, Path]) -> None:
    verdicts = _replay(engine, "runaway", modules, "swallow.traffic.yaml", policy)
    assert _mismatches("swallow.traffic.yaml", verdicts) == [[]] * len(verdicts)
    after = verdicts[-1]
    if policy == "FAIL_CLOSED":
        assert (after.status, after.upstream_request) == (503, None)
    else:  # a new VM: its own module globals start again, shared data was kept
        assert after.status == 200 and after.upstream_request is not None
        seen = dict(after.upstream_request.headers)
        assert (seen["x-served-by-this-vm"], seen["x-served-in-all"]) == ("1", "3")


@pytest.mark.parametrize("engine", ENGINES)
def test_past_its_memory_ceiling_a_vm_fails_the_request_and_is_replaced(
        engine: str, modules: dict[str, Path]) -> None:
    verdicts = _replay(engine, "leak", modules, "leak.traffic.yaml", "FAIL_RELOAD")
    assert _mismatches("leak.traffic.yaml", verdicts) == [[]] * len(verdicts)

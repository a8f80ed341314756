"""The rest of the ABI through the SDK (runtime_tests/lifecycle/): ``make_effective`` and
``proxy_done`` in the harness, source mode and Envoy; a root context's graceful stop
(``on_done`` -> False, ``done()`` later), ``close_stream`` and ``log.level()`` in the
harness engines (a replay cannot make Envoy stop a plugin, and its wasm log level is trace)."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm import engines
from meshwasm.builder.pipeline import build_filter
from meshwasm.harness import abi
from meshwasm.harness.host import HostOptions
from meshwasm.harness.replay import Workers, start_workers
from meshwasm.harness.source import start_source_workers
from meshwasm.replay.expect import evaluate
from meshwasm.replay.traffic import load_traffic, parse_traffic

FOLDER = Path(__file__).resolve().parent / "lifecycle"
ENGINES = ["harness", "source"]


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lifecycle") / "lifecycle.wasm"
    build_filter(FOLDER / "filter.py", out)
    return out


def _workers(engine: str, module: Path, text: str, log_level: str = "info") -> Workers:
    traffic = parse_traffic(text, "t.yaml")
    options = HostOptions(log_level=abi.log_level_number(log_level))
    if engine == "harness":
        return start_workers(module, traffic, options)
    return start_source_workers(FOLDER / "filter.py", traffic, options)


def _one(path: str) -> str:
    return f"requests:\n  - name: r\n    request: {{path: {path}}}\n"


@pytest.mark.parametrize("engine", ENGINES + [pytest.param("envoy", marks=pytest.mark.envoy)])
def test_traffic_meets_its_expectations(engine: str, module: Path) -> None:
    traffic = load_traffic(FOLDER / "traffic.yaml")
    runner = engines.get(engine)
    verdicts = runner.replay(runner.target(FOLDER / "filter.py", module), traffic)
    assert {o.exchange.name: o.mismatches for o in evaluate(traffic, verdicts) if not o.ok} == {}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_root_context_finishes_its_work_before_it_stops(engine: str, module: Path) -> None:
    workers = _workers(engine, module, _one("/log-level"))
    workers.run(parse_traffic(_one("/log-level"), "t.yaml").exchanges[0])
    started = workers.proxy.clock.now_ms
    lines = [line.message for line in workers.stop()]
    assert lines == ["root: stopping, flushing first", "root: flushed"]
    assert workers.proxy.clock.now_ms == started + 100  # the tick it waited for
    host = workers.runners[0].host
    assert host.pending_done == set() and not host.failed


@pytest.mark.parametrize("engine", ENGINES)
def test_a_stream_reset_by_close_stream_gets_no_response(engine: str, module: Path) -> None:
    workers = _workers(engine, module, _one("/close"))
    verdict = workers.run(parse_traffic(_one("/close"), "t.yaml").exchanges[0])
    assert verdict.status == 0 and verdict.upstream_request is None


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("level", ["debug", "warn"])
def test_log_level_reads_the_proxy_level(engine: str, level: str, module: Path) -> None:
    workers = _workers(engine, module, _one("/log-level"), log_level=level)
    verdict = workers.run(parse_traffic(_one("/log-level"), "t.yaml").exchanges[0])
    assert verdict.body == f"level {level.upper()}\n".encode()


@pytest.mark.parametrize("engine", ENGINES)
def test_make_effective_is_false_for_a_stream_that_is_gone(engine: str, module: Path) -> None:
    text = (_one("/hold-and-answer")
            + "  - name: later\n    at: 500ms\n    request: {path: /log-level}\n")
    traffic = parse_traffic(text, "t.yaml")
    workers = _workers(engine, module, text)
    first = workers.run(traffic.exchanges[0])
    assert first.body == b"answered at once\n"
    later = workers.run(traffic.exchanges[1])
    assert any(line.message.endswith("is gone") for line in later.logs)

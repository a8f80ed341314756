"""gRPC calls and streams give the same verdicts in the harness, in source mode and in real
Envoy against a grpcio server (runtime_tests/grpc/: every host call and callback, a server
error status, an expired deadline, an unknown cluster).  The Envoy facts the harness copies
(tokens, statuses, the messages Envoy reports) are pinned by this file's Envoy case."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm import engines
from meshwasm.builder.pipeline import build_filter
from meshwasm.deploy.envoy.replay import EnvoyReplayError, replay_in_envoy
from meshwasm.replay.expect import evaluate
from meshwasm.replay.model import Verdict
from meshwasm.replay.traffic import load_traffic, parse_traffic

FOLDER = Path(__file__).resolve().parent / "grpc"


@pytest.fixture(scope="module")
def features_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("grpc") / "features.wasm"
    build_filter(FOLDER / "filter.py", out)
    return out


def _replay(engine: str, module: Path) -> list[Verdict]:
    runner = engines.get(engine)
    return runner.replay(runner.target(FOLDER / "filter.py", module),
                         load_traffic(FOLDER / "traffic.yaml"))


@pytest.mark.parametrize("engine", ["harness", "source",
                                    pytest.param("envoy", marks=pytest.mark.envoy)])
def test_every_grpc_case_meets_its_expectations(engine: str, features_module: Path) -> None:
    traffic = load_traffic(FOLDER / "traffic.yaml")
    outcomes = evaluate(traffic, _replay(engine, features_module))
    assert {o.exchange.name: o.mismatches for o in outcomes if not o.ok} == {}
    assert len(outcomes) == len(traffic.exchanges)


def test_a_scripted_reset_is_refused_by_the_envoy_engine(features_module: Path) -> None:
    traffic = parse_traffic(
        "grpc:\n  echo:\n    test.Echo/Unary:\n      reset: true\n"
        "requests:\n  - name: r\n    request: {path: /call}\n", "reset.yaml")
    with pytest.raises(EnvoyReplayError, match="reset.*cannot be replayed in Envoy"):
        replay_in_envoy(features_module, traffic)

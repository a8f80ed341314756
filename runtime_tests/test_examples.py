"""Every example under examples/ (but hello, which has its own tests) is built once and
replayed with all its expectations met in each engine: the harness, real Envoy, and source
mode when it exists."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from meshwasm.build.pipeline import build_filter
from meshwasm.deploy.envoy_replay import replay_in_envoy
from meshwasm.harness import replay_module
from meshwasm.replay.expect import evaluate
from meshwasm.replay.model import Traffic, Verdict
from meshwasm.replay.traffic import load_traffic

from .conftest import PROJECT

EXAMPLES = ("shared_counter", "ext_authz", "tick_metrics", "body_rewrite", "queue", "grpc_authz")
Engine = Callable[[Path, Path, Traffic], list[Verdict]]


def _harness(module: Path, _filter: Path, traffic: Traffic) -> list[Verdict]:
    return replay_module(module, traffic)


def _envoy(module: Path, _filter: Path, traffic: Traffic) -> list[Verdict]:
    return replay_in_envoy(module, traffic)


def _source(_module: Path, filter_path: Path, traffic: Traffic) -> list[Verdict]:
    from meshwasm.harness.source import replay_source
    return replay_source(filter_path, traffic)


ENGINES: dict[str, Engine] = {"harness": _harness, "envoy": _envoy}
if importlib.util.find_spec("meshwasm.harness.source") is not None:
    ENGINES["source"] = _source


@pytest.fixture(scope="session")
def built_examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Example name -> its module, built on first use (once per session)."""
    return {}


def _module(built: dict[str, Path], name: str, folder: Path) -> Path:
    if name not in built:
        out = folder / f"{name}.wasm"
        build_filter(PROJECT / "examples" / name / "filter.py", out)
        built[name] = out
    return built[name]


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_meets_its_expectations(name: str, engine: str,
                                        built_examples: dict[str, Path],
                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = PROJECT / "examples" / name
    assert {"filter.py", "traffic.yaml", "README.md"} <= {p.name for p in folder.iterdir()}
    module = _module(built_examples, name, tmp_path_factory.mktemp(name))
    traffic = load_traffic(folder / "traffic.yaml")
    outcomes = evaluate(traffic, ENGINES[engine](module, folder / "filter.py", traffic))
    failures = {o.exchange.name: (o.mismatches, o.verdict.notes)
                for o in outcomes if not o.ok}
    assert failures == {}

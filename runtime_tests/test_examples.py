"""Every example under examples/ (but hello, which has its own tests) is built once and
replayed with all its expectations met in each registered engine (meshwasm.engines): the
harness, source mode and real Envoy."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm import engines
from meshwasm.builder.pipeline import build_filter
from meshwasm.replay.expect import evaluate
from meshwasm.replay.traffic import load_traffic

from .conftest import PROJECT

EXAMPLES = ("shared_counter", "ext_authz", "tick_metrics", "body_rewrite", "queue", "grpc_authz")
ENGINES = engines.names()


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
    runner = engines.get(engine)
    outcomes = evaluate(traffic, runner.replay(runner.target(folder / "filter.py", module),
                                               traffic))
    failures = {o.exchange.name: (o.mismatches, o.verdict.notes)
                for o in outcomes if not o.ok}
    assert failures == {}

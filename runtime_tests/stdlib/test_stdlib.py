"""The standard-library rule: a module either behaves in a built module exactly as in source
mode, or `meshwasm build` refuses its import, naming it and saying why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshwasm.builder.errors import FilterSourceError
from meshwasm.builder.pipeline import build_filter
from meshwasm.harness import replay_module
from meshwasm.harness.source import replay_source
from meshwasm.replay.traffic import parse_traffic

from .exercises import EXERCISES

HERE = Path(__file__).resolve().parent
#: the exercises compute on purpose (modular_pow: 4096-bit pow() in the module, ~10 s on a
#: quiet machine), so the harness's guard per callback is raised far above its 30 s default
CALLBACK_TIME_LIMIT_S = 600


def _traffic() -> str:
    requests = "\n".join(f"  - name: {name}\n    request: {{path: /{name}}}\n    expect: {{status: 200}}"
                         for name in EXERCISES)
    return (f"harness_limits: {{callback_time_limit: {CALLBACK_TIME_LIMIT_S}}}\n"
            f"requests:\n{requests}\n")


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[int, str]]]:
    module = build_filter(HERE / "filter.py", tmp_path_factory.mktemp("stdlib") / "s.wasm")
    traffic = parse_traffic(_traffic())
    return {engine: [(v.status, v.body.decode()) for v in verdicts] for engine, verdicts in (
        ("compiled", replay_module(module.output, traffic)),
        ("source", replay_source(HERE / "filter.py", traffic)))}


@pytest.mark.slow
@pytest.mark.parametrize("index, name", list(enumerate(EXERCISES)), ids=list(EXERCISES))
def test_a_stdlib_module_answers_as_in_source_mode(answers: dict[str, list[tuple[int, str]]],
                                                  index: int, name: str) -> None:
    compiled, source = answers["compiled"][index], answers["source"][index]
    assert source[0] == 200, source[1]
    assert compiled == source


@pytest.mark.parametrize("module, reason", [
    ("zlib", "without zlib"), ("gzip", "without zlib"), ("zoneinfo", "time-zone data"),
    ("ast", "cannot compile Python source"), ("socket", "no sockets"),
    ("subprocess", "processes"), ("sqlite3", "not built"),
])
def test_a_module_that_cannot_behave_the_same_is_refused_by_name(tmp_path: Path, module: str,
                                                                reason: str) -> None:
    path = tmp_path / "uses_it.py"
    path.write_text(f"from proxy_wasm import HttpContext, register\nimport {module}\n"
                    "register(HttpContext)\n")
    with pytest.raises(FilterSourceError) as caught:
        build_filter(path, tmp_path / "out.wasm")
    assert caught.value.line == 2
    assert repr(module) in caught.value.message and reason in caught.value.message

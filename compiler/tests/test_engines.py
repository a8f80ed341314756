"""The engine registry (meshwasm.engines): one place that names the engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm import engines
from meshwasm.harness.errors import HarnessError


def test_the_three_engines_are_registered_harness_first() -> None:
    assert engines.names() == ("harness", "source", "envoy")
    assert engines.get("compiled") is engines.get("harness")  # the older name


def test_an_unknown_engine_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown engine 'wavm'.*harness, source, envoy"):
        engines.get("wavm")


def test_a_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="registered already"):
        engines.register(engines.Engine("source", runs="source", entry="x:y"))


def test_source_engines_run_the_filter_and_others_build_the_module_lazily() -> None:
    built: list[Path] = []

    def build() -> Path:
        built.append(Path("m.wasm"))
        return built[-1]

    assert engines.get("source").target(Path("f.py"), build) == Path("f.py")
    assert built == []
    assert engines.get("harness").target(Path("f.py"), build) == Path("m.wasm")


def test_each_engine_loads_its_replay_function_and_errors() -> None:
    for name in engines.names():
        engine = engines.get(name)
        assert callable(engine.replay_function())
        errors = engine.run_errors()
        assert errors[0] is HarnessError and all(issubclass(e, Exception) for e in errors)
    assert {e.__name__ for e in engines.get("envoy").run_errors()} >= {"EnvoyError",
                                                                      "EnvoyReplayError"}

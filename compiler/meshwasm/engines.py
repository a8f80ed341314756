"""The replay engines, registered once: ``meshwasm replay --engine``, ``dev``, the pytest
plugin and the tests look them up here by name.

- ``harness``: the compiled module under wasmtime (the bytes Envoy loads);
- ``source``: the filter's Python in this interpreter, against the same host model;
- ``envoy``: a real Envoy on loopback.

An engine's implementation is imported only when it replays (``envoy`` needs the Envoy
binary's package, ``source`` the interpreter sandbox).  A later engine is one ``register``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshwasm.replay.model import FROM_TRAFFIC, FromTraffic, Traffic, Verdict

#: older names, still accepted
ALIASES = {"compiled": "harness"}


@dataclass(frozen=True)
class Limits:
    """The harness's own guards (docs/harness-semantics.md); None: none; ``FROM_TRAFFIC``:
    the traffic file's ``harness_limits`` (else their defaults).  Engines without a guard
    ignore it (Envoy has none)."""

    time_limit_s: float | None | FromTraffic = FROM_TRAFFIC
    memory_limit_mb: int | None | FromTraffic = FROM_TRAFFIC


@dataclass(frozen=True)
class Engine:
    name: str
    #: what it runs: "module" (a built .wasm) or "source" (the filter's .py)
    runs: str
    #: "package.module:function" replaying (target, traffic, **options) -> verdicts
    entry: str
    #: the keyword arguments of ``entry`` each ``Limits`` field maps to
    limits: tuple[str, ...] = ()
    #: "package.module:Name" of exceptions meaning "cannot run" (beyond HarnessError)
    errors: tuple[str, ...] = ()

    def target(self, filter_path: Path, module: Path | Callable[[], Path]) -> Path:
        """What this engine replays: the filter's .py for a source engine, else the built
        module (``module`` may be a function building it, called only when needed)."""
        if self.runs == "source":
            return filter_path
        return module if isinstance(module, Path) else module()

    def _load(self, spec: str) -> Any:
        module, _, name = spec.partition(":")
        return getattr(importlib.import_module(module), name)

    def replay_function(self, limits: Limits = Limits()) -> Callable[..., list[Verdict]]:
        """``function(target, traffic, **options) -> verdicts`` with ``limits`` applied."""
        function = self._load(self.entry)
        bound = {name: getattr(limits, name) for name in self.limits}

        def replay(target: Path, traffic: Traffic, **options: Any) -> list[Verdict]:
            return function(target, traffic, **bound, **options)  # type: ignore[no-any-return]
        return replay

    def replay(self, target: Path, traffic: Traffic, limits: Limits = Limits(),
               **options: Any) -> list[Verdict]:
        """Replay ``traffic`` against ``target`` (a module or a filter, see ``runs``)."""
        return self.replay_function(limits)(target, traffic, **options)

    def run_errors(self) -> tuple[type[Exception], ...]:
        """The exceptions meaning the engine could not run the replay."""
        from meshwasm.harness.errors import HarnessError
        return (HarnessError, *(self._load(spec) for spec in self.errors))


_ENGINES: dict[str, Engine] = {}


def register(engine: Engine) -> Engine:
    if engine.name in _ENGINES or engine.name in ALIASES:
        raise ValueError(f"engine {engine.name!r} is registered already")
    _ENGINES[engine.name] = engine
    return engine


def names() -> tuple[str, ...]:
    """The engines' names, in registration order (the first is the default)."""
    return tuple(_ENGINES)


def get(name: str) -> Engine:
    """The engine called ``name`` (or an alias of it); ``ValueError`` naming the known ones."""
    engine = _ENGINES.get(ALIASES.get(name, name))
    if engine is None:
        raise ValueError(f"unknown engine {name!r}; expected one of {', '.join(_ENGINES)}")
    return engine


register(Engine("harness", runs="module", entry="meshwasm.harness:replay_module",
                limits=("time_limit_s",)))
register(Engine("source", runs="source", entry="meshwasm.harness.source:replay_source",
                limits=("time_limit_s", "memory_limit_mb")))
register(Engine("envoy", runs="module", entry="meshwasm.deploy.envoy.replay:replay_in_envoy",
                errors=("meshwasm.deploy.envoy.replay:EnvoyError",
                        "meshwasm.deploy.envoy.replay:EnvoyReplayError")))

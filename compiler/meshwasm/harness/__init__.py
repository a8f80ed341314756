"""The local harness: a proxy-wasm host on wasmtime that behaves as Envoy's.

Public API: ``replay_module(module_path, traffic) -> list[Verdict]`` (same signature as
``meshwasm.deploy.envoy.replay.replay_in_envoy``), ``CompiledPlugin`` to drive requests one
by one, and the errors ``HarnessError`` / ``ModuleError``.  The first two are imported on
first use: source mode (``harness/source.py``) loads this package without wasmtime.
"""

from __future__ import annotations

from typing import Any

from meshwasm.harness.errors import GuestTrap, HarnessError, ModuleError

_COMPILED_ENGINE = ("CompiledPlugin", "replay_module")


def __getattr__(name: str) -> Any:
    if name in _COMPILED_ENGINE:
        from meshwasm.harness import replay
        return getattr(replay, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CompiledPlugin", "GuestTrap", "HarnessError", "ModuleError", "replay_module"]

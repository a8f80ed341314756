"""The local harness: a proxy-wasm host on wasmtime that behaves as Envoy's.

Public API: ``replay_module(module_path, traffic) -> list[Verdict]`` (same signature as
``meshwasm.deploy.envoy.replay.replay_in_envoy``), ``CompiledPlugin`` to drive requests one
by one, and the errors ``HarnessError`` / ``ModuleError``.
"""

from __future__ import annotations

from meshwasm.harness.errors import GuestTrap, HarnessError, ModuleError
from meshwasm.harness.replay import CompiledPlugin, replay_module

__all__ = ["CompiledPlugin", "GuestTrap", "HarnessError", "ModuleError", "replay_module"]

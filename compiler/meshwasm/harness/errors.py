"""Errors of the harness that are not the filter's doing at request time."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class: the replay could not run."""


class ModuleError(HarnessError):
    """The module cannot be loaded or started as Envoy would (bad file, missing or mistyped
    import, no ABI version, on_vm_start/on_configure refused)."""


class GuestTrap(Exception):
    """The module trapped during a callback (or a call into it failed); wasmtime's message."""


def time_limit_note(limit_s: float | None) -> str:
    """Why a callback was stopped by the harness's time limit (both engines say the same)."""
    limit = "its limit" if limit_s is None else f"its limit of {limit_s:g} s"
    return (f"stopped by the harness: the callback ran longer than {limit} (replay "
            "--callback-time-limit; Envoy has no such limit: there the worker would spin on)")

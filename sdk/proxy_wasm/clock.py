"""The proxy's clock (the harness's virtual clock when replaying)."""

from __future__ import annotations

from . import _hostcalls


def now_ns() -> int:
    """Wall-clock time in nanoseconds since the epoch, as the proxy sees it."""
    return _hostcalls.abi.get_current_time_ns()


def now_ms() -> int:
    return _hostcalls.abi.get_current_time_ns() // 1_000_000


if _hostcalls.NATIVE:
    # Inside a compiled module the host calls never change: the C function itself, one
    # Python frame less per call.
    now_ns = _hostcalls.abi.get_current_time_ns  # noqa: F811

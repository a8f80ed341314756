"""Logging to the proxy's log, at Envoy's levels.

Legal in every callback.  Envoy filters by its own log level (``--component-log-level
wasm:LEVEL``), so a trace line costs a host call even when Envoy drops it.
"""

from __future__ import annotations

from . import _hostcalls
from .types import LogLevel


def level() -> LogLevel:
    """The proxy's current log level: lines below it are dropped (``proxy_get_log_level``).
    Check it before building an expensive debug line."""
    return LogLevel(_hostcalls.abi.get_log_level())


def log(level: LogLevel | int, message: str) -> None:
    _hostcalls.abi.log(int(level), message)


def trace(message: str) -> None:
    _hostcalls.abi.log(0, message)


def debug(message: str) -> None:
    _hostcalls.abi.log(1, message)


def info(message: str) -> None:
    _hostcalls.abi.log(2, message)


def warn(message: str) -> None:
    _hostcalls.abi.log(3, message)


def error(message: str) -> None:
    _hostcalls.abi.log(4, message)


def critical(message: str) -> None:
    _hostcalls.abi.log(5, message)


if _hostcalls.NATIVE:
    # Inside a compiled module the host calls never change: C functions bound to their
    # level, one Python frame less per line logged.
    abi = _hostcalls.abi
    trace, debug, info = abi.log_trace, abi.log_debug, abi.log_info  # type: ignore[attr-defined]
    warn, error, critical = abi.log_warn, abi.log_error, abi.log_critical  # type: ignore[attr-defined]
    del abi

"""``register``: how a filter module names its classes, and the error policy."""

from __future__ import annotations

TYPE_CHECKING = False  # not `from typing`: that would freeze typing into every module

from .context import HttpContext, RootContext
from .limits import DEFAULT_MAX_CALLBACK_STEPS, DEFAULT_MAX_MEMORY_MB, check_limits

if TYPE_CHECKING:
    from typing import Any

    from .context import RootT


class Registration:
    """What ``register`` recorded.  (A plain class: dataclasses would pull ``inspect`` and
    half the stdlib into every module.)"""

    __slots__ = ("http", "root", "fail_open", "error_status", "max_callback_steps",
                 "max_memory_mb")

    def __init__(self, http: type[HttpContext[Any]], root: type[RootContext], fail_open: bool,
                 error_status: int, max_callback_steps: int = DEFAULT_MAX_CALLBACK_STEPS,
                 max_memory_mb: int = DEFAULT_MAX_MEMORY_MB) -> None:
        self.http = http
        self.root = root
        self.fail_open = fail_open
        self.error_status = error_status
        self.max_callback_steps = max_callback_steps
        self.max_memory_mb = max_memory_mb


_registration: Registration | None = None


def register(http: type[HttpContext[RootT]], *,
             root: type[RootT] = RootContext,  # type: ignore[assignment]
             fail_open: bool = False, error_status: int = 500,
             max_callback_steps: int = DEFAULT_MAX_CALLBACK_STEPS,
             max_memory_mb: int = DEFAULT_MAX_MEMORY_MB) -> None:
    """Declare the filter: its ``HttpContext`` subclass and optionally its ``RootContext``
    (for type checkers, ``HttpContext[Root]`` goes with ``root=Root``).

    Call it once, at module level.  When a callback raises, the traceback is logged and
    then ``fail_open=True`` lets the request continue; otherwise (the default) the client
    gets a local reply with ``error_status``.  ``max_callback_steps`` (interpreter steps:
    loop iterations and calls, per callback) and ``max_memory_mb`` (per VM) bound a filter
    that runs away or leaks: see ``proxy_wasm.limits``.
    """
    global _registration
    if not (isinstance(http, type) and issubclass(http, HttpContext)):
        raise TypeError(f"register(): http must be an HttpContext subclass, got {http!r}")
    if not (isinstance(root, type) and issubclass(root, RootContext)):
        raise TypeError(f"register(): root must be a RootContext subclass, got {root!r}")
    if not 200 <= error_status <= 599:
        raise ValueError(f"register(): error_status must be an HTTP status, got {error_status}")
    check_limits(max_callback_steps, max_memory_mb)
    _registration = Registration(http, root, fail_open, error_status, max_callback_steps,
                                 max_memory_mb)


def registration() -> Registration | None:
    return _registration

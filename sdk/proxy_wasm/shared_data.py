"""Key/value data shared by every VM of the proxy (all workers, all plugins with the same
``vm_id``), with compare-and-swap.

Legal in any callback.  Values are bytes; ``cas`` is the version the host returned with the
value (0 means "no check").
"""

from __future__ import annotations

from . import _hostcalls
from .types import Status


def get(key: str) -> tuple[bytes | None, int]:
    """``(value, cas)``; value is None when the key was never set (cas is then 0)."""
    return _hostcalls.abi.get_shared_data(key)


def set(key: str, value: bytes, cas: int = 0) -> bool:  # noqa: A001 - mirrors the ABI's name
    """Store ``value``.  With a non-zero ``cas`` the write only happens if nobody wrote the
    key since that version was read: returns False on such a conflict (read again, retry)."""
    try:
        _hostcalls.abi.set_shared_data(key, value, cas)
    except _hostcalls.HostCallError as error:
        if error.args[1] == Status.CAS_MISMATCH:
            return False
        raise
    return True


if _hostcalls.NATIVE:
    # Inside a compiled module the host calls never change: C functions, one Python frame
    # less per call (shared_data_get and try_set_shared_data are the functions above).
    get = _hostcalls.abi.shared_data_get  # type: ignore[attr-defined]  # noqa: F811
    set = _hostcalls.abi.try_set_shared_data  # type: ignore[attr-defined]  # noqa: A001,F811

"""Source mode's stand-in for a VM's memory ceiling (``register(max_memory_mb=...)``).

In a module, the VM's memory is its Wasm memory, which never shrinks (``glue/vm_limits.c``).
In source mode every VM's objects live in one process, so a VM's memory is estimated: what a
built module's CPython takes before the filter's code (``RUNTIME_MIB``), plus what importing
the filter added to the process, plus what each of the VM's callbacks added to it (the
growth of the address space during the callback, never taken back — as Wasm memory).  The
same rules then follow as in the module, checked when a callback returns (a module also
checks every 65,536 steps; here ``--memory-limit`` bounds one callback's allocations): the
request that crossed the ceiling fails by the filter's policy, with the same log line, and
the VM stops (a trap: the proxy's failure policy decides what follows) at the first callback
that is not that request's, or at that request's end.  An estimate: a filter near its
ceiling may cross it one request earlier or later than its module.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NoReturn

from meshwasm.harness import abi
from meshwasm.harness.errors import GuestTrap

#: a built module's memory before the filter's own code runs (hello's VM starts at 4.6 MiB)
RUNTIME_MIB = 4
_PAGE = os.sysconf("SC_PAGE_SIZE")
#: word for word as glue/vm_limits.c stops a VM past its ceiling
STOP_MESSAGE = ("meshwasm: the VM's memory is past its ceiling (register(max_memory_mb=...)); "
                "stopping it so that the proxy replaces it (failure_policy FAIL_RELOAD)")


def address_space() -> int:
    """This process's virtual memory size in bytes."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[0]) * _PAGE


#: the callbacks measuring now, innermost last: [address space at start, inner growth]
_measuring: list[list[int]] = []


class VmMemory:
    """One source-mode VM's estimated memory against its ceiling (0: none); ``log(level,
    text)`` writes the VM's log lines (levels of ``harness.abi``)."""

    def __init__(self, ceiling_mib: int, import_growth: int,
                 log: Callable[[int, str], object]) -> None:
        self.ceiling_mib = ceiling_mib
        self.used = (RUNTIME_MIB << 20) + max(import_growth, 0)
        self.recycle_stream: int | None = None  # the request that crossed the ceiling
        self._log = log
        self._running = ""

    def mib(self) -> int:
        return self.used >> 20

    def _stop(self) -> NoReturn:
        self._log(abi.LOG_CRITICAL, STOP_MESSAGE)
        raise GuestTrap(STOP_MESSAGE)

    def begin(self, callback: str, context_id: int, ends_stream: bool) -> None:
        """Before a callback: a VM past its ceiling stops (``GuestTrap``) unless this is
        the crossing request's and not its last."""
        if self.recycle_stream is not None and (context_id != self.recycle_stream
                                                or ends_stream):
            self._stop()
        self._running = callback
        _measuring.append([address_space(), 0])

    def discard(self) -> None:
        """The callback begun last ended in an exception: nothing to count."""
        _measuring.pop()

    def end(self, context_id: int, is_stream: bool) -> bool:
        """After a callback: count what it added.  True when a stream's callback crossed
        the ceiling (its request then fails by the policy); a VM past its ceiling that
        finished a callback of no stream stops (``GuestTrap``)."""
        start, inner = _measuring.pop()
        grown = max(address_space() - start, 0)
        if _measuring:  # a callback nested in another VM's: not that VM's growth
            _measuring[-1][1] += grown
        self.used += max(grown - inner, 0)
        if self.recycle_stream is None and self.ceiling_mib > 0 \
                and self.mib() > self.ceiling_mib:
            self.recycle_stream = context_id
            self._log(abi.LOG_ERROR, f"meshwasm: {self._running}: the VM's memory reached "
                                     f"{self.mib()} MiB, past its ceiling of "
                                     f"{self.ceiling_mib} MiB (register(max_memory_mb=...)); "
                                     "the VM will be replaced")
            if is_stream:
                return True
        if self.recycle_stream is not None and not is_stream:
            self._stop()
        return False

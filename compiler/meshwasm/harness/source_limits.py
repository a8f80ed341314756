"""The harness's own guards for a filter run from source (``wasm/epoch.py`` guards modules).

- Time: a callback still running after ``callback_time_limit_s`` gets ``CallbackTimeLimit``
  from SIGALRM — a ``BaseException``, so a filter's ``except Exception`` does not swallow it,
  raised again every ``RETRY_SECONDS`` should the filter catch even that, and in the end at
  every instruction of the filter's code.  The callback then fails the VM as a trap would
  (``GuestTrap``), with a note saying why.  Signal handlers run between bytecodes: a builtin
  looping in C that never returns is not stopped here, ``source_watchdog.py`` ends the
  replay instead.  ``breakpoint()`` turns the limit off for the rest of that callback.
- Memory: while a request, tick or delivery runs (a guest session), the process's address
  space may grow by at most ``source_memory_limit_mb`` (``RLIMIT_AS``); past it allocations
  fail and the filter gets ``MemoryError``, which its policy answers like any exception (as a
  module's would when its memory cannot grow).
- Ctrl-C: a real SIGINT during a callback still stops the replay; a ``KeyboardInterrupt`` the
  filter raises itself is the filter's error, like ``SystemExit``.

Signals and rlimits belong to the main thread: in another thread the guards are off.
"""

from __future__ import annotations

import resource
import signal
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TypeVar

from meshwasm.harness.errors import GuestTrap, time_limit_note
from meshwasm.harness.source_memory import address_space  # what RLIMIT_AS counts

RETRY_SECONDS = 0.1
#: after this many stops the filter caught, every instruction of guest code raises one
ESCALATE_AFTER = 5
#: where code the stop must never interrupt lives: the harness, and the standard library
_HOST_CODE = (str(Path(__file__).resolve().parent.parent), sysconfig.get_paths()["stdlib"])
T = TypeVar("T")
#: a guarded callback is running (of any guest: one signal timer for the process)
_callback_running = False


class CallbackTimeLimit(BaseException):
    """Raised into a filter's callback that ran past the harness's time limit."""


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class SourceGuard:
    """Time and memory limits for one source-mode guest; see the module docstring."""

    def __init__(self, time_limit_s: float | None, memory_limit_mb: int | None) -> None:
        self.time_limit_s = time_limit_s
        self.memory_limit_mb = memory_limit_mb
        self._timing = False
        self._alarms = 0
        self._interrupted = False

    @contextmanager
    def session(self) -> Iterator[None]:
        """Cap the address space at its current size plus the memory limit, meanwhile."""
        if self.memory_limit_mb is None or not _in_main_thread():
            yield
            return
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = address_space() + (self.memory_limit_mb << 20)
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        if soft != resource.RLIM_INFINITY and soft <= cap:
            yield  # a tighter limit is set already
            return
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

    def run(self, callback: Callable[[], T]) -> T | int:
        """``callback()`` under the time limit.  Raises ``GuestTrap`` when it had to be
        stopped (then nothing it returned counts), ``KeyboardInterrupt`` when the user
        pressed Ctrl-C meanwhile."""
        global _callback_running
        if _callback_running or not _in_main_thread():
            return callback()  # entered from a host call: the outer callback's limit holds
        _callback_running, self._alarms, self._interrupted = True, 0, False
        previous_trace = sys.gettrace()  # a debugger's or coverage's, put back if replaced
        previous_alarm = signal.signal(signal.SIGALRM, self._on_alarm)
        previous_interrupt = signal.signal(signal.SIGINT, self._on_interrupt)
        self._timing = self.time_limit_s is not None
        if self._timing:
            signal.setitimer(signal.ITIMER_REAL, self.time_limit_s, RETRY_SECONDS)
        result: T | int = 0
        try:
            result = callback()
        except CallbackTimeLimit:
            pass  # it left the filter: reported below
        finally:
            self.stop_timing()
            if self._alarms >= ESCALATE_AFTER:
                sys.settrace(previous_trace)
            signal.signal(signal.SIGALRM, previous_alarm)
            signal.signal(signal.SIGINT, previous_interrupt)
            _callback_running = False
        if self._interrupted:
            raise KeyboardInterrupt
        if self._alarms:
            raise GuestTrap(time_limit_note(self.time_limit_s))
        return result

    def stop_timing(self) -> None:
        """No time limit for the rest of this callback (a debugger is in charge)."""
        if self._timing:
            self._timing = False
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if not self._timing:
            return
        self._alarms += 1
        if self._alarms >= ESCALATE_AFTER:
            _raise_at_the_next_guest_instruction(frame)
        raise CallbackTimeLimit

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        self._interrupted = True
        raise KeyboardInterrupt


def _is_guest_code(frame: FrameType) -> bool:
    """Code of the filter (or the SDK), not of the harness or the standard library, whose
    clean-up must run."""
    return not frame.f_code.co_filename.startswith(_HOST_CODE)


def _raise_at_the_next_guest_instruction(frame: FrameType | None) -> None:
    """For a filter that catches ``CallbackTimeLimit`` and goes on: trace guest code
    instruction by instruction, raising it again at the first one, which is the first
    instruction of the ``except`` clause that caught the stop — so it leaves that clause.
    (A trace function that raises is removed by Python: armed again at each alarm; ``run``
    removes it once the callback is over.)"""
    def tracer(frame: FrameType, event: str, arg: object) -> Callable[..., object]:
        if event == "opcode" and _is_guest_code(frame):
            raise CallbackTimeLimit
        frame.f_trace_opcodes = True
        return tracer

    while frame is not None:
        if _is_guest_code(frame):
            frame.f_trace, frame.f_trace_opcodes = tracer, True
        frame = frame.f_back
    sys.settrace(tracer)

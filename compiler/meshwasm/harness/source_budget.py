"""Source mode's step budget: the same verdict as the module's, without counting steps.

A built module counts interpreter steps in its own CPython (``toolchain/wasi/
step_budget.patch``, ``glue/vm_limits.c``).  The host's interpreter cannot be patched, and
3.11 has no cheap hook to count loop iterations (``sys.monitoring`` is 3.12; ``sys.settrace``
line events would make every filter several times slower and would take the tracer from
coverage and ``breakpoint()``, which source mode exists for).  So source mode turns the budget
into process CPU time (``ITIMER_VIRTUAL``: waiting in a debugger does not count) at a rate
measured once on this interpreter, times ``SLACK``: a callback that runs away is stopped with
the same ``LimitExceeded`` and policy as in the module; one near its budget may differ (the
module counts exactly, this measures time).  As in the module, a filter that catches the
error and keeps going gets a grace, then its VM fails (a trap): ``SourceTrap`` is raised and,
since Python code can catch that too, raised again at every line of the filter's frames
(a trace function, installed only then) until the callback is left.

The alarm only interrupts the filter: when it fires inside the harness's own code (a host
call), it is put off for a millisecond, so the host model is never left half updated.
Signals work in the main thread only; elsewhere callbacks run without a budget.  A callback
stuck in C code never lets the alarm's handler run: ``source_watchdog.py`` ends the replay.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from meshwasm.harness import source_watchdog

#: CPU time per step is measured on a bare loop; a filter's steps do more work, and a
#: callback near its budget must not be stopped here while the module lets it finish.  (The
#: default budget, 20M steps, is then ~2.5 s of CPU here; in Envoy a bare loop spends it in
#: ~0.9 s, measured on a loaded 2-core machine.)
SLACK = 4.0
_CALIBRATION_STEPS = 200_000
_DEFER_SECONDS = 0.001
_HARNESS_PACKAGE = "meshwasm."


#: logged (critical) before the VM stops, word for word as glue/vm_limits.c logs it
TRAP_MESSAGE = ("meshwasm: the filter kept running after its step budget or memory ceiling "
                "stopped it (it caught LimitExceeded?); stopping the VM")


class SourceTrap(BaseException):
    """The filter kept running after its budget stopped it: the VM fails, as a module traps."""


_seconds_per_step: float | None = None


def seconds_per_step() -> float:
    """CPU seconds one interpreter step (a loop iteration) takes here, measured once."""
    global _seconds_per_step
    if _seconds_per_step is None:
        started = time.process_time()
        for _ in range(_CALIBRATION_STEPS):
            pass
        _seconds_per_step = max(time.process_time() - started, 1e-3) / _CALIBRATION_STEPS
    return _seconds_per_step


class _Alarm:
    """The callback being timed: what to raise, and whether it was already raised once."""

    def __init__(self, name: str, steps: int, grace_steps: int,
                 error: type[BaseException]) -> None:
        self.name, self.steps, self.grace_steps, self.error = name, steps, grace_steps, error
        self.spent = False
        self.trap: str | None = None  # set once the VM is being stopped


def _trap_at_each_line(frame: FrameType, event: str, arg: Any) -> Any:
    """Trace function while a VM is being stopped: the filter's frames raise again at every
    line, so that no ``except`` in them can keep the callback running."""
    # not on "exception" events: a trace function that raises is removed, and the filter's
    # except clause would still catch what is being raised
    if event == "line" and _running and _running[-1].trap and not _in_harness(frame):
        raise SourceTrap(_running[-1].trap)
    return _trap_at_each_line


def _trap_every_line(frame: FrameType | None) -> None:
    sys.settrace(_trap_at_each_line)
    while frame is not None:
        frame.f_trace = _trap_at_each_line
        frame = frame.f_back


_running: list[_Alarm] = []


def _in_harness(frame: FrameType | None) -> bool:
    name = frame.f_globals.get("__name__", "") if frame is not None else ""
    return isinstance(name, str) and name.startswith(_HARNESS_PACKAGE)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    if not _running:
        return
    alarm = _running[-1]
    if _in_harness(frame):
        signal.setitimer(signal.ITIMER_VIRTUAL, _DEFER_SECONDS)
        return
    if alarm.spent:
        alarm.trap = TRAP_MESSAGE
        # again every millisecond until the callback is left: a trace function is dropped
        # once it raises, and the filter may catch what it raised
        signal.setitimer(signal.ITIMER_VIRTUAL, _DEFER_SECONDS, _DEFER_SECONDS)
        _trap_every_line(frame)
        raise SourceTrap(alarm.trap)
    alarm.spent = True
    signal.setitimer(signal.ITIMER_VIRTUAL, _as_seconds(alarm.grace_steps))
    raise alarm.error(f"{alarm.name} ran past its budget of {alarm.steps} interpreter steps "
                      "(loop iterations and calls; register(max_callback_steps=...) sets it)")


def _as_seconds(steps: int) -> float:
    return max(steps * seconds_per_step() * SLACK, _DEFER_SECONDS)


@contextmanager
def step_budget(name: str, steps: int, grace_steps: int, error: type[BaseException],
                time_limit_s: float | None = None) -> Iterator[None]:
    """Run the block (callback ``name``) on a CPU-time budget standing for ``steps``;
    ``error`` (the guest's ``LimitExceeded``) is raised in the filter when it is spent.
    ``time_limit_s``: the harness's own limit on the callback (``source_limits.py``), for
    the watchdog."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGVTALRM) is not _on_alarm:
        signal.signal(signal.SIGVTALRM, _on_alarm)
    seconds = _as_seconds(steps)  # calibrates before the alarm is armed
    source_watchdog.enter(name, steps, seconds + _as_seconds(grace_steps), time_limit_s)
    _running.append(_Alarm(name, steps, grace_steps, error))
    tracer = sys.gettrace()  # a debugger's or coverage's, given back if a trap replaced it
    outer = signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        source_watchdog.leave()
        if _running.pop().trap:
            sys.settrace(tracer)
        if _running and outer[0] > 0:  # a nested callback: the outer one's time goes on
            signal.setitimer(signal.ITIMER_VIRTUAL, outer[0])

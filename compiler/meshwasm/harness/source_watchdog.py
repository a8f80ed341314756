"""Source mode's answer to a callback stuck in C code: a watchdog outside the GIL.

The step budget (``source_budget.py``) raises ``LimitExceeded`` from a Python signal
handler, which CPython runs only when its eval loop gets control back.  A builtin looping in
C (``sum(range(10**12))``, ``max(itertools.count())``, ``set(itertools.repeat(1))``) never
gives it back, and holds the GIL, so nothing in this process can stop it: the replay would
hang with no output.  A small watchdog process (``source_watchdog_process.py``) notices a
callback whose CPU time went well past the moment its budget's alarm (or the harness's time
limit, ``source_limits.py``) fired, prints the filter's traceback (from ``faulthandler``,
which answers in C) and why, and ends this process with exit status ``EXIT_STATUS``.  Making it a verdict for that request instead
would need the engine in a supervised child process restarted after each such stop, losing
every VM's state and shared data and the event loop's timeline: the replay would no longer
be the replay of that traffic, so source mode stops and says so.

This side of it:

- ``scope()`` (``replay_source``) starts the watchdog and stops it when the replay ends; a
  callback run outside a scope (``SourcePlugin`` used directly) starts one that lives until
  the interpreter exits.  Either way it exits by itself once this process is gone.
- ``enter``/``leave`` (``step_budget``, main thread only) describe the running callback on a
  shared page: a few bytes written, no system call.
- Only the main thread's CPU time counts, so a debugger waiting at its prompt never trips
  it; ``breakpoint()`` (``debugger_entered``) stops watching the callback altogether.
- ``note_request`` names the request being replayed, for the message.
"""

from __future__ import annotations

import atexit
import ctypes
import faulthandler
import mmap
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from meshwasm.harness import source_watchdog_process as process
from meshwasm.harness.source_watchdog_process import DEBUGGER, RUNNING, TIME_LIMIT, Page
from meshwasm.replay.model import Exchange, Traffic, Verdict

EXIT_STATUS = process.EXIT_STATUS
#: CPU time allowed past the budget and its grace before the watchdog concludes that the
#: alarm's handler could not run (it ends the replay, so generously)
MARGIN_RATIO, MARGIN_SECONDS = 0.5, 1.0
_PROGRAM = process.__file__
_HARNESS_FOLDER = str(Path(__file__).resolve().parent.parent)  # meshwasm/: frames not shown
_GENERATION = struct.Struct("<Q")
_CALLBACK_SIZE = Page.CALLBACK.stop - Page.CALLBACK.start
_REQUEST_SIZE = Page.REQUEST.stop - Page.REQUEST.start


class _Callback(NamedTuple):
    name: bytes  # padded to the page's field
    steps: int
    allowed_cpu_s: float
    time_limit_s: float  # when it makes the allowance (TIME_LIMIT)
    flags: int = RUNNING


class _Watchdog:
    """The watchdog process, its shared page and the signals it sends this process."""

    def __init__(self) -> None:
        page_fd = os.memfd_create("meshwasm-source-watchdog")
        try:
            os.ftruncate(page_fd, Page.SIZE)
            self.memory = mmap.mmap(page_fd, Page.SIZE)
            dump_read, self.dump_write = os.pipe()
            report = 2 if report_fd is None else report_fd  # not sys.stderr: may be a capture
            try:
                self.process = subprocess.Popen(
                    [sys.executable, "-I", "-S", _PROGRAM, str(os.getpid()), str(page_fd),
                     str(dump_read), str(report), str(threading.main_thread().ident),
                     _HARNESS_FOLDER],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    pass_fds=(page_fd, dump_read, report))
            except BaseException:
                os.close(self.dump_write)
                self.memory.close()
                raise
            finally:
                os.close(dump_read)
        finally:
            os.close(page_fd)
        faulthandler.register(process.DUMP_SIGNAL, file=self.dump_write, all_threads=True,
                              chain=False)
        self._previous_exit_handler = _set_c_handler(process.EXIT_SIGNAL, _LIBC_EXIT)
        self.generation = 0

    def publish(self, callback: _Callback | None) -> None:
        """Describe ``callback`` (None: none is running) on the page."""
        self.generation += 1
        if callback is None:
            Page.HEADER.pack_into(self.memory, 0, self.generation, 0, 0, 0.0, 0.0)
        else:
            self.memory[Page.CALLBACK] = callback.name
            Page.HEADER.pack_into(self.memory, 0, self.generation, callback.flags,
                                  callback.steps, callback.allowed_cpu_s,
                                  callback.time_limit_s)

    def note(self, request: bytes) -> None:
        self.memory[Page.REQUEST] = request
        self.generation += 1
        _GENERATION.pack_into(self.memory, 0, self.generation)

    def stop(self) -> None:
        """End the watchdog process, then give the signals back (in this order: it may be
        sending one meanwhile)."""
        self.process.terminate()
        self.process.wait()
        faulthandler.unregister(process.DUMP_SIGNAL)
        _set_c_handler(process.EXIT_SIGNAL, self._previous_exit_handler)
        os.close(self.dump_write)
        self.memory.close()


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None)
    libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.signal.restype = ctypes.c_void_p
    return libc


# The C-level handler ending the process: no Python can run while a C loop holds the GIL,
# and libc's _exit(signum) is async-signal-safe; its argument makes the exit status.
_LIBC = _libc()
_LIBC_EXIT = ctypes.cast(_LIBC._exit, ctypes.c_void_p).value


def _set_c_handler(signum: int, handler: int | None) -> int | None:
    """Install a C function as ``signum``'s handler; the previous one (None: SIG_DFL)."""
    previous: int | None = _LIBC.signal(signum, handler)
    return previous


#: where the watchdog writes its report, when not this process's fd 2: the pytest plugin
#: sets the stderr pytest started with, since the process ends before pytest could show
#: what it captured
report_fd: int | None = None
_watchdog: _Watchdog | None = None
_unavailable = False  # it could not start once: source mode runs without it
_callbacks: list[_Callback] = []  # nested callbacks, innermost last
_request = b"\0" * _REQUEST_SIZE
#: each callback's description, made once
_described: dict[tuple[str, int, float, float | None], _Callback] = {}


def _start() -> _Watchdog | None:
    global _watchdog, _unavailable
    if _watchdog is None and not _unavailable:
        try:
            if not sys.platform.startswith("linux"):
                raise OSError("it needs Linux (/proc, memfd, real-time signals)")
            _watchdog = _Watchdog()
        except OSError as error:
            _unavailable = True
            print(f"meshwasm: source mode runs without its watchdog for callbacks stuck in C "
                  f"code: {error}", file=sys.stderr)
            return None
        _watchdog.note(_request)
        if _callbacks:
            _watchdog.publish(_callbacks[-1])
    return _watchdog


def stop() -> None:
    """Stop the watchdog now (one started outside a scope otherwise runs until exit)."""
    global _watchdog
    if _watchdog is not None:
        watchdog, _watchdog = _watchdog, None
        watchdog.stop()


def _forget_in_child() -> None:
    """A forked child is not the process the watchdog watches."""
    global _watchdog
    _watchdog = None
    _callbacks.clear()


os.register_at_fork(after_in_child=_forget_in_child)
atexit.register(stop)


@contextmanager
def scope() -> Iterator[None]:
    """A watchdog for the block: started unless one runs already, then stopped."""
    started = _watchdog is None
    _start()
    try:
        yield
    finally:
        if started:
            stop()


def enter(name: str, steps: int, budget_cpu_s: float, time_limit_s: float | None) -> None:
    """Callback ``name`` starts in the main thread, with a step budget of ``steps`` that
    source mode turned into ``budget_cpu_s`` seconds of CPU time (with the grace), and the
    harness's time limit ``time_limit_s`` (wall clock: a callback that used more CPU time
    than that was not stopped by it either)."""
    key = (name, steps, budget_cpu_s, time_limit_s)
    callback = _described.get(key)
    if callback is None:
        callback = _described[key] = _describe(name, steps, budget_cpu_s, time_limit_s)
    _callbacks.append(callback)
    watchdog = _watchdog or _start()
    if watchdog is not None:
        watchdog.publish(callback)


def allowed_cpu_s(limit_s: float) -> float:
    """The CPU time a callback may use before the watchdog ends the replay, for a limit
    (its budget and grace as CPU time, or the harness's time limit) of ``limit_s``."""
    return limit_s * (1 + MARGIN_RATIO) + MARGIN_SECONDS


def _describe(name: str, steps: int, budget_cpu_s: float,
              time_limit_s: float | None) -> _Callback:
    padded = name.encode()[:_CALLBACK_SIZE].ljust(_CALLBACK_SIZE, b"\0")
    if time_limit_s is not None and time_limit_s < budget_cpu_s:
        return _Callback(padded, steps, allowed_cpu_s(time_limit_s), time_limit_s,
                         RUNNING | TIME_LIMIT)
    return _Callback(padded, steps, allowed_cpu_s(budget_cpu_s), 0.0)


def leave() -> None:
    """The innermost callback returned.  A callback it was nested in goes on, with its
    allowance counted again from now (a nested callback's time is not the outer one's, as
    for its alarm; what the outer one spent before is forgiven: this is a backstop)."""
    _callbacks.pop()
    if _watchdog is not None:
        _watchdog.publish(_callbacks[-1] if _callbacks else None)


def debugger_entered() -> None:
    """``breakpoint()`` in the running callback: not watched until it returns."""
    if _callbacks:
        _callbacks[-1] = _callbacks[-1]._replace(flags=_callbacks[-1].flags | DEBUGGER)
        if _watchdog is not None:
            _watchdog.publish(_callbacks[-1])


def note_request(text: str) -> None:
    """The request being replayed, as the message names it ("" when none)."""
    global _request
    _request = text.encode()[:_REQUEST_SIZE - 1].ljust(_REQUEST_SIZE, b"\0")
    if _watchdog is not None:
        _watchdog.note(_request)


def replay_each(traffic: Traffic, run: Callable[[Exchange], Verdict],
                on_verdict: Callable[[int, Verdict], None] | None = None) -> list[Verdict]:
    """``run`` every exchange of ``traffic`` in order, each named for the watchdog's
    message; ``on_verdict(index, verdict)`` as each is done."""
    verdicts: list[Verdict] = []
    try:
        for index, exchange in enumerate(traffic.exchanges):
            note_request(f"request #{index + 1} {exchange.name!r} (line {exchange.line} of "
                         f"{traffic.path})")
            verdicts.append(run(exchange))
            if on_verdict is not None:
                on_verdict(index, verdicts[-1])
    finally:
        note_request("")
    return verdicts

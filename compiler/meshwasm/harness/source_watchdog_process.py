"""The watchdog process of source mode: it stops a replay whose callback is stuck in C code.

It runs as its own small process (``python -I -S`` on this file: standard library only, so
it starts in milliseconds and never imports the filter), because nothing inside the replay
process can: a builtin looping in C (``sum(range(10**12))``) holds the GIL and never returns
to the eval loop, so neither the step budget's Python signal handler nor any Python thread
runs.  ``source_watchdog.py`` is the replay process's side.

The replay process describes the callback it is running on a shared page (``Page``): the
callback's name, its step budget and how much CPU time source mode allows it before the
budget's alarm (or the harness's time limit) must have stopped it.  Every ``POLL_SECONDS``
the watchdog reads the page; when it sees a callback running, it reads the main thread's CPU
time (``/proc/PID/task/PID/stat``: time waiting at a debugger's prompt does not count), and
the allowance counts from then (at most one poll late, so the replay process needs no system
call per callback).  Past the allowance it has the replay process's ``faulthandler`` dump
the Python stack (``DUMP_SIGNAL``, answered in C even inside a C loop), prints it as Python
prints a traceback, then why the replay stops, and ends the replay process with
``EXIT_SIGNAL``, whose handler is libc's ``_exit``: its exit status is ``EXIT_STATUS``.

It exits when the replay process stops it (SIGTERM), and by itself once its parent is gone.
"""

from __future__ import annotations

import linecache
import mmap
import os
import re
import select
import signal
import struct
import sys
import time
from dataclasses import dataclass

#: real-time signals, which nothing else here uses (Linux; elsewhere no watchdog runs)
_SIGRTMIN = getattr(signal, "SIGRTMIN", 34)
#: asks the replay process's faulthandler for the Python stack of its threads
DUMP_SIGNAL = _SIGRTMIN + 5
#: ends the replay process (its C handler is ``_exit(signum)``)
EXIT_SIGNAL = _SIGRTMIN + 6
#: the replay process's exit status when the watchdog stopped it (40 with glibc)
EXIT_STATUS = int(EXIT_SIGNAL)
POLL_SECONDS = 0.1
#: how long the dump may take to start arriving, and the silence that ends it
_DUMP_WAIT_SECONDS, _DUMP_QUIET_SECONDS = 2.0, 0.2
#: after EXIT_SIGNAL, how long before SIGKILL (only if ``_exit`` was not the handler)
_EXIT_WAIT_SECONDS = 2.0

#: Page flags: a callback is running; a debugger is in charge of it (not watched); its
#: allowance comes from the harness's time limit rather than its step budget
RUNNING, DEBUGGER, TIME_LIMIT = 1, 2, 4


@dataclass(frozen=True)
class Snapshot:
    """The callback the replay process was running when the page was read."""

    generation: int
    flags: int
    steps: int
    allowed_cpu_s: float
    time_limit_s: float
    callback: str
    request: str


class Page:
    """The shared page: a header, written in one piece at every callback's start and end
    with a new generation; the callback's name and a note on the request being replayed,
    each written before the header that goes with it.  A reader that sees the generation
    change while reading reads again at the next poll."""

    SIZE = 4096
    HEADER = struct.Struct("<QQQdd")  # generation, flags, steps, allowed_cpu_s, time_limit_s
    CALLBACK = slice(64, 192)
    REQUEST = slice(192, SIZE)

    def __init__(self, memory: mmap.mmap) -> None:
        self.memory = memory

    def read(self) -> Snapshot | None:
        """The page as it was, or None when it was written meanwhile."""
        generation, flags, steps, allowed, limit = self.HEADER.unpack_from(self.memory, 0)
        callback, request = (_text(self.memory[part]) for part in (self.CALLBACK, self.REQUEST))
        if self.HEADER.unpack_from(self.memory, 0)[0] != generation:
            return None
        return Snapshot(generation, flags, steps, allowed, limit, callback, request)


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def main_thread_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid``'s main thread, from ``/proc``."""
    with open(f"/proc/{pid}/task/{pid}/stat", "rb") as stat:
        fields = stat.read().rpartition(b")")[2].split()
    # after "pid (comm)": state is field 3, utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_dump(fd: int) -> str:
    """What faulthandler writes to ``fd`` after DUMP_SIGNAL (empty if nothing came)."""
    chunks: list[bytes] = []
    wait = _DUMP_WAIT_SECONDS
    while select.select([fd], [], [], wait)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        wait = _DUMP_QUIET_SECONDS
    return b"".join(chunks).decode("utf-8", "replace")


_THREAD = re.compile(r"^(?:Current thread|Thread) (0x[0-9a-f]+) \(most recent call first\):$")
_FRAME = re.compile(r'^  File "(.*)", line (\d+) in (.*)$')


def as_traceback(dump: str, thread_ident: int, hidden_folder: str) -> str:
    """Thread ``thread_ident``'s stack from a faulthandler dump, as Python prints a traceback
    (most recent call last, source lines quoted), without the frames up to the last one in
    ``hidden_folder`` (the harness running the filter).  The dump itself when it has no such
    thread."""
    frames: list[tuple[str, int, str]] | None = None
    for line in dump.splitlines():
        thread = _THREAD.match(line)
        if thread:
            if frames is not None:
                break
            if int(thread.group(1), 16) == thread_ident:
                frames = []
            continue
        frame = _FRAME.match(line)
        if frames is not None and frame:
            frames.append((frame.group(1), int(frame.group(2)), frame.group(3)))
    if not frames:
        return dump.rstrip("\n")
    frames.reverse()
    harness = [index for index, (path, _, _) in enumerate(frames)
               if path.startswith(hidden_folder)]
    if harness and harness[-1] + 1 < len(frames):
        frames = frames[harness[-1] + 1:]
    lines = ["Traceback (most recent call last):"]
    for path, number, function in frames:
        lines.append(f'  File "{path}", line {number}, in {function}')
        source = linecache.getline(path, number).strip()
        if source:
            lines.append(f"    {source}")
    return "\n".join(lines)


def stop_message(stuck: Snapshot, spent_s: float) -> str:
    """Why the replay ends: the callback, the request, and what to do instead."""
    where = f" while replaying {stuck.request}" if stuck.request else ""
    if stuck.flags & TIME_LIMIT:
        limit, error = (f"the harness's time limit of {stuck.time_limit_s:g} s per callback "
                        "(--callback-time-limit)", "CallbackTimeLimit")
    else:
        limit, error = f"its step budget of {stuck.steps} steps", "LimitExceeded"
    return (f"meshwasm: source mode stopped the replay: {stuck.callback}{where} has used "
            f"{spent_s:.1f} s of CPU time or more, past the {stuck.allowed_cpu_s:.1f} s "
            f"source mode allows {limit}.\n"
            "It is running inside C code (a builtin such as sum(), max(), any() or set() over "
            f"a huge or endless iterator), where {error} cannot be raised: source mode cannot "
            "interrupt it.  A built module stops such a loop (LimitExceeded, and the request "
            "fails by the filter's policy): build the filter and replay the module (meshwasm "
            f"replay without --engine source).  Exit status {EXIT_STATUS}.")


class Watch:
    """The watchdog's loop over one replay process."""

    def __init__(self, pid: int, page: Page, dump_fd: int, report_fd: int, thread_ident: int,
                 hidden_folder: str) -> None:
        self.pid, self.page, self.dump_fd, self.report_fd = pid, page, dump_fd, report_fd
        self.thread_ident, self.hidden_folder = thread_ident, hidden_folder

    def run(self) -> None:
        """Poll until the parent is gone or a stuck callback was stopped."""
        try:
            self._poll()
        except (ProcessLookupError, FileNotFoundError):
            pass  # the replay process ended meanwhile

    def _poll(self) -> None:
        seen, started_cpu_s = -1, 0.0  # the running callback's generation, when first seen
        while os.getppid() == self.pid:
            time.sleep(POLL_SECONDS)
            stuck = self.page.read()
            if stuck is None or stuck.flags & (RUNNING | DEBUGGER) != RUNNING:
                seen = -1
                continue
            if stuck.generation != seen:
                seen, started_cpu_s = stuck.generation, main_thread_cpu_seconds(self.pid)
                continue
            spent = main_thread_cpu_seconds(self.pid) - started_cpu_s
            if spent > stuck.allowed_cpu_s and self.stop(stuck, spent):
                return

    def stop(self, stuck: Snapshot, spent_s: float) -> bool:
        """Dump the stack, and if the callback is still the one running, report and end the
        replay process; False when it had returned meanwhile."""
        os.kill(self.pid, DUMP_SIGNAL)
        dump = read_dump(self.dump_fd)
        still = self.page.read()
        if still is None or still.generation != stuck.generation:
            return False
        report = (as_traceback(dump, self.thread_ident, self.hidden_folder) + "\n"
                  if dump else "")
        try:
            text = (report + stop_message(stuck, spent_s) + "\n").encode("utf-8", "replace")
            while text:
                text = text[os.write(self.report_fd, text):]
        finally:
            os.kill(self.pid, EXIT_SIGNAL)
        self._wait_for_exit()
        return True

    def _wait_for_exit(self) -> None:
        deadline = time.monotonic() + _EXIT_WAIT_SECONDS
        while os.getppid() == self.pid and time.monotonic() < deadline:
            time.sleep(0.01)
        if os.getppid() == self.pid:
            os.kill(self.pid, signal.SIGKILL)


def main(argv: list[str]) -> None:
    """``source_watchdog_process.py PID PAGE_FD DUMP_FD REPORT_FD THREAD_IDENT
    HIDDEN_FOLDER``"""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the replay process
    pid, page_fd, dump_fd, report_fd, thread_ident = (int(value) for value in argv[:5])
    memory = mmap.mmap(page_fd, Page.SIZE, access=mmap.ACCESS_READ)
    Watch(pid, Page(memory), dump_fd, report_fd, thread_ident, argv[5]).run()


if __name__ == "__main__":
    main(sys.argv[1:])

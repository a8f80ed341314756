"""The watchdog's report of a callback stuck in C code: faulthandler's dump of the stuck
thread, turned into a Python-style traceback (``harness/source_watchdog_process.py``)."""

from __future__ import annotations

from pathlib import Path

from meshwasm.harness.source_watchdog_process import as_traceback

MAIN = 0x7F5A69C1FB80


def _dump(filter_path: Path, harness: str) -> str:
    return (
        "Thread 0x00007f5a5ffff640 (most recent call first):\n"
        '  File "/usr/lib/python3.11/threading.py", line 320 in wait\n'
        "\n"
        f"Current thread 0x{MAIN:016x} (most recent call first):\n"
        f'  File "{filter_path}", line 3 in on_request_headers\n'
        f'  File "{harness}/harness/source.py", line 260 in _call\n'
        f'  File "{harness}/cli.py", line 30 in main\n'
    )


def test_the_stuck_threads_stack_reads_as_a_traceback_from_the_filter_on(
        tmp_path: Path) -> None:
    filter_path = tmp_path / "filter.py"
    filter_path.write_text("import itertools\n\nmax(itertools.count())\n", encoding="utf-8")
    harness = str(tmp_path / "meshwasm")
    assert as_traceback(_dump(filter_path, harness), MAIN, harness) == (
        "Traceback (most recent call last):\n"
        f'  File "{filter_path}", line 3, in on_request_headers\n'
        "    max(itertools.count())")


def test_without_the_stuck_thread_in_it_the_dump_is_shown_as_it_is(tmp_path: Path) -> None:
    dump = _dump(tmp_path / "filter.py", str(tmp_path / "meshwasm"))
    assert as_traceback(dump, MAIN + 1, str(tmp_path)) == dump.rstrip("\n")


def test_a_stack_only_of_harness_frames_is_shown_whole(tmp_path: Path) -> None:
    harness = str(tmp_path / "meshwasm")
    dump = (f"Current thread 0x{MAIN:016x} (most recent call first):\n"
            f'  File "{harness}/harness/host.py", line 9 in log\n'
            f'  File "{harness}/cli.py", line 30 in main\n')
    assert as_traceback(dump, MAIN, harness) == (
        "Traceback (most recent call last):\n"
        f'  File "{harness}/cli.py", line 30, in main\n'
        f'  File "{harness}/harness/host.py", line 9, in log')

"""Source mode and a callback stuck in C code (``harness/source_watchdog.py``): the step
budget's Python signal handler cannot run inside a C loop, so a watchdog process ends the
replay with the filter's traceback, a message naming the callback and the request, and exit
status ``EXIT_STATUS``; a callback within its budget, or waiting in a debugger, is not
stopped; the watchdog never outlives the replay.

Each replay that could be ended runs in a subprocess (with a generous timeout, so that a
regression fails instead of hanging)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from meshwasm.harness import source_watchdog
from meshwasm.harness.source import replay_source
from meshwasm.harness.source_budget import SLACK, seconds_per_step
from meshwasm.replay.traffic import load_traffic
from proxy_wasm.limits import GRACE_STEPS

FILTER = Path(__file__).resolve().parent / "limits" / "stuck_in_c.py"
BUDGET_STEPS = 1_000_000  # stuck_in_c.py's register()
TIMEOUT_S = 180
MESHWASM = [sys.executable, "-m", "meshwasm"]


def _traffic(tmp_path: Path, *requests: tuple[str, str, int]) -> Path:
    """A traffic file of (name, path, expected status) requests."""
    lines = ["requests:"]
    for name, path, status in requests:
        lines += [f"  - name: {name}", f"    request: {{path: {path}}}",
                  f"    expect: {{status: {status}}}"]
    traffic = tmp_path / "stuck_in_c.traffic.yaml"
    traffic.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return traffic


def _run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S,
                          env={**os.environ, **(env or {})})


def _watchdogs_of(pid: int) -> list[int]:
    """The watchdog processes watching ``pid`` (by their command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) > 5 and argv[3].endswith(b"source_watchdog_process.py") \
                and argv[4] == str(pid).encode():
            found.append(int(entry.name))
    return found


def _gone(pid: int, within_s: float = 10.0) -> bool:
    """Whether every watchdog of ``pid`` is gone (or goes within ``within_s``)."""
    deadline = time.monotonic() + within_s
    while _watchdogs_of(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _budget_cpu_s() -> float:
    """stuck_in_c.py's step budget and its grace as source mode's CPU time here."""
    return (BUDGET_STEPS + GRACE_STEPS) * seconds_per_step() * SLACK


def _c_call_items(cpu_s: float) -> int:
    """How many items ``sum(range(n))`` adds in about ``cpu_s`` of CPU time here."""
    started = time.thread_time()
    sum(range(2_000_000))
    return int(2_000_000 * cpu_s / max(time.thread_time() - started, 1e-4))


@pytest.mark.parametrize("path, line", [("/sum", "sum(range(10**12))"),
                                        ("/max", "max(itertools.count())")])
def test_a_loop_inside_c_ends_the_replay_with_its_traceback_and_why(
        tmp_path: Path, path: str, line: str) -> None:
    traffic = _traffic(tmp_path, ("first", "/", 200), ("a loop inside C code", path, 500),
                       ("never replayed", "/", 200))
    with subprocess.Popen([*MESHWASM, "replay", "--engine", "source", str(FILTER),
                           str(traffic)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as replay:
        out, err = replay.communicate(timeout=TIMEOUT_S)
    assert replay.returncode == source_watchdog.EXIT_STATUS, err
    assert "✓ #1 first" in out and "#3" not in out  # what was done was shown
    traceback, _, message = err.partition("meshwasm: source mode stopped the replay: ")
    assert traceback.startswith("Traceback (most recent call last):\n")
    assert traceback.endswith(f'{FILTER}", line {_line_of(line)}, in on_request_headers\n'
                              f"    {line}\n")
    assert message.startswith("on_request_headers while replaying request #2 'a loop inside "
                              f"C code' (line 5 of {traffic}) has used ")
    assert (f"allows its step budget of {BUDGET_STEPS} steps.\nIt is running inside C code"
            in message and "LimitExceeded cannot be raised" in message
            and "without --engine source" in message
            and message.endswith(f"Exit status {source_watchdog.EXIT_STATUS}.\n"))
    assert _gone(replay.pid)


def test_in_a_chain_from_source_the_requests_done_are_shown_too(tmp_path: Path) -> None:
    traffic = _traffic(tmp_path, ("first", "/", 200), ("a loop inside C code", "/sum", 500))
    hello = Path(__file__).resolve().parent.parent / "examples" / "hello" / "filter.py"
    result = _run(*MESHWASM, "replay", "--engine", "source", str(hello), str(FILTER),
                  str(traffic))
    assert result.returncode == source_watchdog.EXIT_STATUS, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].endswith("✓ #1 first")
    assert ("    sum(range(10**12))\nmeshwasm: source mode stopped the replay: "
            "on_request_headers while replaying request #2 'a loop inside C code'"
            in result.stderr)


def test_with_a_larger_budget_the_harness_time_limit_bounds_a_loop_inside_c(
        tmp_path: Path) -> None:
    traffic = _traffic(tmp_path, ("a loop inside C code", "/sum", 500))
    result = _run(*MESHWASM, "replay", "--engine", "source", "--callback-time-limit", "0.2",
                  str(FILTER), str(traffic), env={"C_LOOP_MAX_STEPS": str(2**31 - 1)})
    assert result.returncode == source_watchdog.EXIT_STATUS, result.stdout + result.stderr
    assert ("source mode allows the harness's time limit of 0.2 s per callback "
            "(--callback-time-limit).\n" in result.stderr
            and "CallbackTimeLimit cannot be raised" in result.stderr)


def test_under_pytest_the_report_reaches_the_terminal_despite_capturing(
        tmp_path: Path) -> None:
    traffic = _traffic(tmp_path, ("a loop inside C code", "/sum", 500))
    (tmp_path / "test_stuck.py").write_text(textwrap.dedent(f"""
        from pathlib import Path
        from meshwasm.harness.source import replay_source
        from meshwasm.replay.traffic import load_traffic

        def test_stuck():
            replay_source(Path({str(FILTER)!r}), load_traffic(Path({str(traffic)!r})))
    """), encoding="utf-8")
    result = _run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                  str(tmp_path / "test_stuck.py"))
    assert result.returncode == source_watchdog.EXIT_STATUS, result.stdout + result.stderr
    assert "    sum(range(10**12))\nmeshwasm: source mode stopped the replay: " in result.stderr


def _line_of(text: str) -> int:
    return FILTER.read_text().splitlines().index(f"            {text}") + 1


def test_callbacks_within_their_budget_or_stopped_by_it_are_not_ended(tmp_path: Path) -> None:
    """Within the budget: not stopped.  One C call that returns after the budget's alarm
    but within the watchdog's margin: the alarm's LimitExceeded stops it, as in Python."""
    budget_s = _budget_cpu_s()
    allowed_s = source_watchdog.allowed_cpu_s(budget_s)
    traffic = _traffic(
        tmp_path, ("within the budget", f"/cpu-ms/{int(budget_s * 400)}", 200),
        ("one C call past the budget", f"/c-call/{_c_call_items(allowed_s / 3)}", 500),
        ("the replay goes on", "/", 200))
    result = _run(*MESHWASM, "replay", "--engine", "source", str(FILTER), str(traffic))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 requests: 3 as expected" in result.stdout


DEBUGGED_REPLAY = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from meshwasm.harness.source import replay_source
    from meshwasm.replay.traffic import load_traffic

    filter_path, traffic_path, line, wait_s = sys.argv[1:]

    def debugger(frame, event, arg):
        # as pdb at its prompt: the program waits on that line for the user
        if event == "line" and (frame.f_code.co_filename, frame.f_lineno) == (
                filter_path, int(line)):
            time.sleep(float(wait_s))
        return debugger

    sys.settrace(debugger)
    verdicts = replay_source(Path(filter_path), load_traffic(Path(traffic_path)))
    print(*(verdict.status for verdict in verdicts))
""")


def test_a_callback_waiting_in_a_debugger_is_not_stopped(tmp_path: Path) -> None:
    traffic = _traffic(tmp_path, ("stops in the debugger", "/debugger", 200))
    allowed_s = source_watchdog.MARGIN_SECONDS * 2  # more than the margin alone
    result = _run(sys.executable, "-c", DEBUGGED_REPLAY, str(FILTER), str(traffic),
                  str(_line_of("time.sleep(0)  # a debugger stops here (the tests' tracer "
                               "waits on this line)")), str(allowed_s))
    assert (result.returncode, result.stdout) == (0, "200\n"), result.stderr


def test_a_callback_waiting_at_pdbs_prompt_is_not_stopped(tmp_path: Path) -> None:
    """pdb (a trace function, set before the replay) stops at a line of the filter and
    waits there for the user longer than the watchdog's margin."""
    traffic = _traffic(tmp_path, ("stops in pdb", "/debugger", 200))
    line = _line_of("time.sleep(0)  # a debugger stops here (the tests' tracer waits on this "
                    "line)")
    with subprocess.Popen([sys.executable, "-m", "pdb", *MESHWASM[1:], "replay", "--engine",
                           "source", str(FILTER), str(traffic)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as session:
        assert session.stdin is not None and session.stdout is not None
        terminal, seen = session.stdout, list[str]()
        # pdb's prompt ends with no newline: read by character
        reading = threading.Thread(
            target=lambda: seen.extend(iter(lambda: terminal.read(1), "")), daemon=True)
        reading.start()
        try:
            session.stdin.write(f"break {FILTER}:{line}\ncontinue\n")
            session.stdin.flush()
            _wait_for(lambda: f"stuck_in_c.py({line})" in "".join(seen))
            time.sleep(source_watchdog.MARGIN_SECONDS * 2.5)  # the user reads, then goes on
            session.stdin.write("continue\n")
            session.stdin.flush()
            _wait_for(lambda: "The program exited" in "".join(seen))
            session.stdin.write("quit\n")
            session.stdin.flush()
            session.wait(timeout=TIMEOUT_S)
        finally:
            session.kill()
        reading.join(timeout=TIMEOUT_S)
    output = "".join(seen)
    assert session.returncode == 0, output
    assert "✓ #1 stops in pdb" in output and "Exit status: 0" in output


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_after_breakpoint_the_callback_is_not_watched(tmp_path: Path) -> None:
    """``breakpoint()`` puts a debugger in charge: a long C call there is not ended (its
    budget's alarm stops the callback once the call returns)."""
    allowed_s = source_watchdog.allowed_cpu_s(_budget_cpu_s())
    items = _c_call_items(allowed_s * 1.5)
    traffic = _traffic(tmp_path, ("a breakpoint", f"/breakpoint/{items}", 500))
    result = _run(*MESHWASM, "replay", "--engine", "source", str(FILTER), str(traffic),
                  env={"PYTHONBREAKPOINT": "time.time"})  # a debugger that returns at once
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_watchdog_lives_as_long_as_the_replay(tmp_path: Path) -> None:
    source_watchdog.stop()  # one started by a SourcePlugin used directly lives until exit
    during: list[list[int]] = []
    verdicts = replay_source(FILTER, load_traffic(_traffic(tmp_path, ("one", "/", 200))),
                             on_verdict=lambda index, verdict: during.append(
                                 _watchdogs_of(os.getpid())))
    assert [verdict.status for verdict in verdicts] == [200]
    assert [len(watchdogs) for watchdogs in during] == [1]
    assert _watchdogs_of(os.getpid()) == []


def test_the_watchdog_exits_when_the_replay_process_is_killed(tmp_path: Path) -> None:
    traffic = _traffic(tmp_path, ("stops in the debugger", "/debugger", 200))
    with subprocess.Popen([sys.executable, "-c", DEBUGGED_REPLAY, str(FILTER), str(traffic),
                           str(_line_of("time.sleep(0)  # a debugger stops here (the "
                                        "tests' tracer waits on this line)")), "600"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as replay:
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while not _watchdogs_of(replay.pid):
                assert replay.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            replay.send_signal(signal.SIGKILL)
    assert _gone(replay.pid)

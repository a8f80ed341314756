"""The harness's own limits (Envoy has none): a callback that never returns, unbounded
allocation from source, and SystemExit/KeyboardInterrupt raised by a filter each become one
request's verdict with a note, and the replay goes on (issue 12)."""

from __future__ import annotations

import resource
import signal
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshwasm.builder.pipeline import build_filter
from meshwasm.cli import main
from meshwasm.failure_policy import FAIL_OPEN
from meshwasm.harness import replay_module
from meshwasm.harness.source import replay_source
from meshwasm.replay.expect import evaluate
from meshwasm.replay.model import Verdict
from meshwasm.replay.traffic import load_traffic, parse_traffic

HERE = Path(__file__).parent
FILTER = HERE / "hostile.py"
TRAFFIC = HERE / "hostile.traffic.yaml"
LIMIT_S = 1.0
STOPPED = "stopped by the harness: the callback ran longer than its limit of 1 s"


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_filter(FILTER, tmp_path_factory.mktemp("hostile") / "hostile.wasm").output


def _traffic(*kinds: str) -> object:
    requests = "".join(
        f"  - name: {kind or 'plain'}\n    request: {{path: /, headers: {{x-misbehave: "
        f"'{kind}'}}}}\n" for kind in kinds)
    return parse_traffic(f"requests:\n{requests}")


def _replay(engine: str, module: Path, traffic: object, **limits: object) -> list[Verdict]:
    if engine == "source":
        return replay_source(FILTER, traffic, **limits)  # type: ignore[arg-type]
    return replay_module(module, traffic, **limits)  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["harness", "source"])
def test_the_traffic_file_gives_the_same_verdicts_in_both_engines(module: Path,
                                                                  engine: str) -> None:
    traffic = load_traffic(TRAFFIC)
    assert traffic.limits.callback_time_limit_s == LIMIT_S
    verdicts = _replay(engine, module, traffic)  # the file's harness_limits
    assert [o.mismatches for o in evaluate(traffic, verdicts)] == [[] for _ in verdicts]
    stopped = verdicts[3]
    assert len(stopped.notes) == 1 and STOPPED in stopped.notes[0]
    assert "proxy_on_request_headers" in stopped.notes[0]
    exits = "\n".join(line.message for line in verdicts[0].logs)
    assert "SystemExit: 3" in exits  # the traceback reaches the log


@pytest.mark.parametrize("engine", ["harness", "source"])
def test_fail_open_lets_requests_through_after_a_stopped_callback(module: Path,
                                                                  engine: str) -> None:
    verdicts = _replay(engine, module, _traffic("loop", ""), time_limit_s=LIMIT_S,
                       failure_policy=FAIL_OPEN)
    assert [v.status for v in verdicts] == [503, 200]


def test_a_filter_that_swallows_the_stop_is_stopped_all_the_same() -> None:
    """Source mode raises into the filter; one catching even BaseException is still ended
    (the stop is raised again until the callback returns, then the VM fails)."""
    verdicts = replay_source(FILTER, _traffic("swallow", ""), time_limit_s=LIMIT_S)  # type: ignore[arg-type]
    assert [v.status for v in verdicts] == [503, 503]
    assert STOPPED in verdicts[0].notes[0]


def test_unbounded_allocation_from_source_ends_in_memory_error() -> None:
    """The request gets the filter's policy for the MemoryError, the address space limit is
    back as it was, and the VM serves the next request."""
    before = resource.getrlimit(resource.RLIMIT_AS)
    verdicts = replay_source(FILTER, _traffic("allocate", ""),  # type: ignore[arg-type]
                             time_limit_s=120, memory_limit_mb=256)
    assert [v.status for v in verdicts] == [500, 200]
    assert "MemoryError" in "\n".join(line.message for line in verdicts[0].logs)
    assert resource.getrlimit(resource.RLIMIT_AS) == before


def test_ctrl_c_still_stops_a_source_replay() -> None:
    """A real SIGINT during a callback (no time limit) ends the replay, as the user wants."""
    main_thread = threading.main_thread().ident
    assert main_thread is not None
    timer = threading.Timer(1.0, signal.pthread_kill, (main_thread, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            replay_source(FILTER, _traffic("loop"), time_limit_s=None)  # type: ignore[arg-type]
    finally:
        timer.cancel()


@pytest.mark.parametrize("engine", ["harness", "source"])
def test_replay_command_takes_the_limit(module: Path, engine: str, tmp_path: Path) -> None:
    """The stopped request's note (shown with its mismatch) carries the limit given."""
    traffic = tmp_path / "loop.yaml"
    traffic.write_text("requests:\n  - name: loops\n    request: {path: /, headers: "
                       "{x-misbehave: loop}}\n    expect: {status: 200}\n")
    target = FILTER if engine == "source" else module
    result = CliRunner().invoke(main, ["replay", "--engine", engine, "--callback-time-limit",
                                       "1.5", str(target), str(traffic)])
    assert result.exit_code == 1, result.output
    assert "+ actual   503" in result.output
    assert "the callback ran longer than its limit of 1.5 s" in result.output
    # the traffic file's harness_limits apply unless the option is given, which wins
    traffic.write_text("harness_limits: {callback_time_limit: 1.25}\n" + traffic.read_text())
    from_file = CliRunner().invoke(main, ["replay", "--engine", engine, str(target),
                                          str(traffic)])
    assert "the callback ran longer than its limit of 1.25 s" in from_file.output
    given = CliRunner().invoke(main, ["replay", "--engine", engine, "--callback-time-limit",
                                      "1.5", str(target), str(traffic)])
    assert "the callback ran longer than its limit of 1.5 s" in given.output

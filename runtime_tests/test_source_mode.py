"""Source mode against compiled mode: the same filters, the same traffic, the same verdicts,
field by field; a filter that raises gets the same error policy in both, and in source mode
a traceback that quotes its source lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.builder.pipeline import build_filter
from meshwasm.harness import replay_module
from meshwasm.harness.source import replay_source
from meshwasm.replay.expect import evaluate
from meshwasm.replay.model import Verdict
from meshwasm.replay.traffic import load_traffic

from .conftest import PROJECT, RUNTIME_TESTS
from .verdict_compare import TRACEBACK_START, comparable

SCENARIOS = RUNTIME_TESTS / "source_mode"
RAISING = SCENARIOS / "raising"
CONSTRUCTOR = SCENARIOS / "raising_constructor"
EXAMPLES = ("hello", "body_rewrite", "ext_authz", "queue", "shared_counter", "tick_metrics")
CASES = {
    **{name: (PROJECT / "examples" / name / "filter.py",
              PROJECT / "examples" / name / "traffic.yaml") for name in EXAMPLES},
    "hello_c-in-python": (SCENARIOS / "hello_py" / "filter.py",
                          RUNTIME_TESTS / "other_sdk" / "hello_c.traffic.yaml"),
    "busy": (SCENARIOS / "busy" / "filter.py", SCENARIOS / "busy" / "traffic.yaml"),
    "skipping": (SCENARIOS / "skipping" / "filter.py", SCENARIOS / "skipping" / "traffic.yaml"),
    "raising-fail-closed": (RAISING / "fail_closed.py", RAISING / "traffic.yaml"),
    "raising-fail-open": (RAISING / "fail_open.py", RAISING / "traffic.yaml"),
    "constructor-fail-closed": (CONSTRUCTOR / "fail_closed.py", CONSTRUCTOR / "traffic.yaml"),
    "constructor-fail-open": (CONSTRUCTOR / "fail_open.py", CONSTRUCTOR / "traffic.yaml"),
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("source_mode")
    return {name: build_filter(filter_path, out / f"{name}.wasm").output
            for name, (filter_path, _) in CASES.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_source_and_compiled_modes_give_the_same_verdicts(case: str,
                                                          modules: dict[str, Path]) -> None:
    filter_path, traffic_path = CASES[case]
    traffic = load_traffic(traffic_path)
    compiled = replay_module(modules[case], traffic)
    source = replay_source(filter_path, traffic)
    assert [comparable(v) for v in source] == [comparable(v) for v in compiled]
    for outcome in evaluate(traffic, source):
        assert outcome.ok, (outcome.exchange.name, outcome.mismatches)


def _traceback(verdict: Verdict) -> str:
    found = [line.message for line in verdict.logs if line.message.startswith(TRACEBACK_START)]
    assert len(found) == 1 and verdict.logs[-1].level != "" and found[0]
    return found[0]


@pytest.mark.parametrize("policy", ["fail-closed", "fail-open"])
def test_a_raising_filter_gets_the_same_policy_and_a_real_traceback(
        policy: str, modules: dict[str, Path]) -> None:
    case = f"raising-{policy}"
    filter_path, traffic_path = CASES[case]
    traffic = load_traffic(traffic_path)
    compiled = replay_module(modules[case], traffic)
    source = replay_source(filter_path, traffic)
    fine, boom, late, after = source
    if policy == "fail-closed":
        # error_status=502: the request phase answers 502 (through the response callbacks),
        # the response phase replaces the upstream's answer with 502.
        assert (boom.status, boom.body, boom.upstream_request) == (502, b"filter error\n", None)
        assert late.status == 502 and late.upstream_request is not None
    else:
        assert boom.status == 200 and boom.upstream_request is not None
        assert late.status == 200 and late.header("x-raising") is None
    assert fine.status == after.status == 200
    assert [(v.status, v.body) for v in source] == [(v.status, v.body) for v in compiled]

    text = _traceback(boom)
    assert text.startswith("filter raised in on_request_headers:\nTraceback (most recent call")
    common = RAISING / "common.py"
    source_line = 'raise ValueError(f"the filter exploded in {where}")'
    number = next(n for n, line in enumerate(common.read_text().splitlines(), start=1)
                  if line.strip() == source_line)
    assert f'File "{common}", line {number}, in explode\n    {source_line}\n' in text
    assert text.endswith("ValueError: the filter exploded in on_request_headers")
    compiled_text = _traceback(compiled[1])
    assert f"line {number}, in explode" in compiled_text  # same frame, no quoted line
    assert "raise ValueError" not in compiled_text
    assert [line.level for line in boom.logs] == [line.level for line in compiled[1].logs]


@pytest.mark.parametrize("policy", ["fail-closed", "fail-open"])
def test_a_raising_constructor_gets_the_policy_and_the_same_log_in_both_modes(
        policy: str, modules: dict[str, Path]) -> None:
    case = f"constructor-{policy}"
    filter_path, traffic_path = CASES[case]
    traffic = load_traffic(traffic_path)
    for verdicts in (replay_source(filter_path, traffic), replay_module(modules[case], traffic)):
        first, refused, third = verdicts
        if policy == "fail-closed":
            assert (refused.status, refused.body, refused.upstream_request) == (
                503, b"filter error\n", None)
        else:
            assert refused.status == 200 and refused.upstream_request is not None
        assert refused.header("x-stream") is None  # no context: no callbacks of the filter
        assert first.header("x-stream") == "1" and third.header("x-stream") == "3"
        messages = [line.message for line in refused.logs]
        assert len(messages) == 1, messages  # one traceback, nothing else
        assert messages[0].startswith("filter raised in HttpContext.__init__:\nTraceback")
        assert messages[0].endswith("RuntimeError: constructor refused stream 2")


def test_replay_shows_a_failing_requests_traceback_with_source_lines(
        modules: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from meshwasm.cli import main
    edited = tmp_path / "traffic.yaml"
    edited.write_text("requests:\n  - name: boom\n    request: {path: /boom}\n"
                      "    expect: {status: 200}\n")
    monkeypatch.chdir(RAISING)  # the filter's files are looked up here, among other places
    result = CliRunner().invoke(main, ["replay", str(modules["raising-fail-closed"]),
                                       str(edited)])
    assert result.exit_code == 1, result.output
    assert "[error] filter raised in on_request_headers:" in result.output
    assert 'File "common.py", line 7, in explode\n' in result.output
    assert 'raise ValueError(f"the filter exploded in {where}")' in result.output
    assert "[info] raising saw /boom" not in result.output  # info lines only with -v
    verbose = CliRunner().invoke(main, ["replay", "-v", str(modules["raising-fail-closed"]),
                                        str(edited)])
    assert "[info] raising saw /boom" in verbose.output

"""A failing request's report shows its warnings and errors (``-v``: every line), and
compiled tracebacks quote the filter's source lines."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from meshwasm.replay.expect import evaluate, render_report
from meshwasm.replay.model import LogLine, Verdict
from meshwasm.replay.traffic import parse_traffic
from meshwasm.replay.tracebacks import quote_sources

COMPILED_TRACEBACK = """filter raised in on_request_headers:
Traceback (most recent call last):
  File "filter.py", line 3, in on_request_headers
  File "<stdlib>/json/__init__.py", line 346, in loads
ValueError: boom"""


def _render(verdicts: list[Verdict], verbose: bool, folders: list[Path]) -> str:
    traffic = parse_traffic("requests:\n  - {name: fine, expect: {status: 200}}\n"
                            "  - {name: broken, expect: {status: 200}}\n", source="t.yaml")
    console = Console(width=200, record=True, highlight=False)
    console.print(render_report(traffic, evaluate(traffic, verdicts), "harness", verbose,
                                folders))
    return console.export_text()


def _verdicts() -> list[Verdict]:
    logs = [LogLine("info", "saw /"), LogLine("warn", "slow token cache"),
            LogLine("error", COMPILED_TRACEBACK)]
    return [Verdict(200, [], b"", logs=[LogLine("info", "fine request")]),
            Verdict(500, [], b"", logs=logs)]


def test_a_failing_request_shows_its_warnings_and_errors_with_source_lines(
        tmp_path: Path) -> None:
    (tmp_path / "filter.py").write_text("import json\ndef on_request_headers(self):\n"
                                        "    return json.loads('x')\n")
    text = _render(_verdicts(), verbose=False, folders=[tmp_path])
    assert "[warn] slow token cache" in text
    assert '  File "filter.py", line 3, in on_request_headers\n' \
           "              return json.loads('x')\n" in text
    assert "saw /" not in text and "fine request" not in text  # info: only with -v
    assert text.count("log:") == 1


def test_verbose_shows_every_line_of_every_request(tmp_path: Path) -> None:
    text = _render(_verdicts(), verbose=True, folders=[tmp_path])
    assert "[info] fine request" in text and "[info] saw /" in text
    assert text.count("log:") == 2


def test_quoting_leaves_quoted_frames_and_unknown_files_alone(tmp_path: Path) -> None:
    (tmp_path / "filter.py").write_text("a = 1\nb = 2\nraise ValueError\n")
    assert quote_sources(COMPILED_TRACEBACK, [tmp_path / "elsewhere"]) == COMPILED_TRACEBACK
    quoted = quote_sources(COMPILED_TRACEBACK, [tmp_path])
    assert quoted.splitlines()[3] == "    raise ValueError"  # as Python quotes it
    assert quote_sources(quoted, [tmp_path]) == quoted  # source mode's are already quoted
    assert quote_sources("no traceback here", [tmp_path]) == "no traceback here"

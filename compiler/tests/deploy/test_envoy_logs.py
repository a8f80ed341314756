"""Unit tests for parsing Envoy's application log."""

from __future__ import annotations

from meshwasm.deploy.envoy.logs import filter_log_lines, parse_records
from meshwasm.replay.model import LogLine

LOG = """\
[2026-01-01 10:00:00.000][7][info][main] starting
[2026-01-01 10:00:00.001][8][trace][wasm] [host->vm] proxy_on_request_headers(2, 8, 1)
[2026-01-01 10:00:00.002][8][info][wasm] wasm log meshwasm meshwasm: c filter saw /hello
[2026-01-01 10:00:00.003][8][warning][wasm] wasm log p root vm: two
lines: with a colon
[2026-01-01 10:00:00.004][8][error][wasm] wasm log p vm: boom
[2026-01-01 10:00:00.005][8][critical][wasm] wasm log p vm: 
[2026-01-01 10:00:00.006][8][debug][http] wasm log not from the wasm logger: x
"""


def test_records_join_continuation_lines() -> None:
    records = parse_records("garbage before\n" + LOG)
    assert [r.logger for r in records] == ["main", "wasm", "wasm", "wasm", "wasm", "wasm", "http"]
    assert records[3].message == "wasm log p root vm: two\nlines: with a colon"


def test_only_filter_messages_with_model_levels() -> None:
    assert filter_log_lines(LOG) == [
        LogLine("info", "c filter saw /hello"),
        LogLine("warn", "two\nlines: with a colon"),
        LogLine("error", "boom"),
        LogLine("critical", ""),
    ]

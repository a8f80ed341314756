"""Expectation checks and the report."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from meshwasm.replay.expect import Mismatch, compare, evaluate, render_report
from meshwasm.replay.model import (
    Exchange, Expectation, HttpRequest, LogLine, Traffic, UpstreamResponse, Verdict,
)

VERDICT = Verdict(
    status=200,
    headers=[("content-type", "text/plain"), ("x-multi", "1"), ("x-multi", "2")],
    body=b"hello world",
    logs=[LogLine("info", "saw /hello"), LogLine("warn", "slow")],
    upstream_request=HttpRequest(path="/hello", headers=[("x-user", "alice")]),
)


def test_a_matching_verdict_has_no_mismatch() -> None:
    expect = Expectation(status=200, headers={"x-multi": "2"}, headers_present=["content-type"],
                         headers_absent=["x-nope"], body=b"hello world", body_contains=b"lo w",
                         logs=["/hello", "slow"], upstream_headers={"x-user": "alice"},
                         upstream_reached=True)
    assert compare(expect, VERDICT) == []
    assert compare(Expectation(), VERDICT) == []  # nothing checked


def test_each_check_reports_expected_and_actual() -> None:
    expect = Expectation(status=403, headers={"content-type": "application/json", "x-a": "1"},
                         headers_present=["x-b"], headers_absent=["x-multi"], body=b"denied",
                         body_contains=b"nope", logs=["never logged"],
                         upstream_headers={"x-user": "bob"}, upstream_reached=False)
    assert compare(expect, VERDICT) == [
        Mismatch("status", "403", "200"),
        Mismatch("header content-type", "application/json", "text/plain"),
        Mismatch("header x-a", "1", "(absent)"),
        Mismatch("header x-b", "(present)", "(absent)"),
        Mismatch("header x-multi", "(absent)", "1, 2"),
        Mismatch("body", "denied", "hello world"),
        Mismatch("body contains", "nope", "hello world"),
        Mismatch("log line containing", "never logged", "[info] saw /hello\n[warn] slow"),
        Mismatch("upstream reached", "false", "true"),
        Mismatch("upstream header x-user", "bob", "alice"),
    ]


def test_upstream_checks_when_it_was_not_reached() -> None:
    local = Verdict(status=0, headers=[], body=b"")
    assert compare(Expectation(status=200, upstream_headers={"x-user": "a"}), local) == [
        Mismatch("status", "200", "0 (stream reset, no response)"),
        Mismatch("upstream headers", "x-user", "(the upstream was not reached)"),
    ]


def _report(expect: Expectation, verdict: Verdict) -> str:
    exchange = Exchange("checks the header", HttpRequest(), UpstreamResponse(), expect, line=7)
    traffic = Traffic(Path("t.yaml"), b"", [exchange, exchange])
    outcomes = evaluate(traffic, [VERDICT, verdict])
    console = Console(width=120, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(render_report(traffic, outcomes))
    return console.export_text()


def test_report_has_one_line_per_pass_and_a_diff_per_failure() -> None:
    failing = Verdict(status=503, headers=[], body=b"", notes=["Function: x failed: trap"])
    text = _report(Expectation(status=200), failing)
    lines = text.splitlines()
    assert lines[0] == "  ✓ #1 checks the header"
    assert lines[1] == "  ✗ #2 checks the header  (t.yaml:7)"
    assert lines[2].strip() == "status"
    assert lines[3].strip() == "- expected 200"
    assert lines[4].strip() == "+ actual   503"
    assert lines[5].strip() == "note: Function: x failed: trap"
    assert lines[-1] == "2 requests: 1 as expected, 1 not (engine: harness)"

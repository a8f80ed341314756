"""Compare what happened (``Verdict``) with what was expected (``Expectation``), and report.

``compare`` is engine-agnostic: the harness and real Envoy produce the same ``Verdict``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.text import Text

from meshwasm.replay.model import (
    WALL_CLOCK_EARLY_MS, WALL_CLOCK_LATE_MS, ElapsedBounds, Exchange, Expectation, HeaderChecks,
    LogCheck, LogLine, PluginLogCheck, Traffic, ValueCheck, Verdict, expects_json,
)
from meshwasm.replay.tracebacks import quote_sources

_ABSENT = "(absent)"
_MAX_SHOWN = 400  # characters of a body shown in a diff


@dataclass(frozen=True)
class Mismatch:
    """One check that failed: what was checked, what was expected, what was seen."""

    check: str
    expected: str
    actual: str


def _show(data: bytes) -> str:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = repr(data)
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + f"... ({len(text) - _MAX_SHOWN} more characters)"
    return text


def _values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key == name]


def _check_headers(label: str, headers: list[tuple[str, str]],
                   wanted: HeaderChecks) -> list[Mismatch]:
    found = []
    for name, check in wanted.items():
        values = _values(headers, name)
        if isinstance(check, str):
            check = ValueCheck(exact=check)
        if not check.accepts(values):
            found.append(Mismatch(f"{label} {name}", str(check), ", ".join(values) or _ABSENT))
    return found


def _check_body(label: str, body: bytes, exact: bytes | None, contains: bytes | None,
                json_value: Any) -> list[Mismatch]:
    """A body against its expectations: exact, containing, equal as JSON."""
    found = []
    if exact is not None and body != exact:
        found.append(Mismatch(label, _show(exact), _show(body)))
    if contains is not None and contains not in body:
        found.append(Mismatch(f"{label} contains", _show(contains), _show(body)))
    if expects_json(json_value):
        try:
            parsed = json.loads(body)
        except ValueError:
            found.append(Mismatch(f"{label} as JSON", json.dumps(json_value),
                                  f"not JSON: {_show(body)}"))
        else:
            if parsed != json_value:
                found.append(Mismatch(f"{label} as JSON", json.dumps(json_value, sort_keys=True),
                                      json.dumps(parsed, sort_keys=True)))
    return found


def _log_matches(check: LogCheck, line: LogLine) -> bool:
    if isinstance(check, PluginLogCheck):
        return line.plugin == check.plugin and (
            check.text is None or _log_matches(check.text, line))
    return check in line.message if isinstance(check, str) \
        else bool(check.search(line.message))


def compare(expect: Expectation, verdict: Verdict) -> list[Mismatch]:
    """Every check of ``expect`` that ``verdict`` fails (empty: the request is as expected)."""
    found: list[Mismatch] = []
    if expect.status is not None and verdict.status != expect.status:
        actual = str(verdict.status) if verdict.status else "0 (stream reset, no response)"
        found.append(Mismatch("status", str(expect.status), actual))
    found += _check_headers("header", verdict.headers, expect.headers)
    names = {key for key, _ in verdict.headers}
    for name in expect.headers_present:
        if name not in names:
            found.append(Mismatch(f"header {name}", "(present)", _ABSENT))
    for name in expect.headers_absent:
        if name in names:
            found.append(Mismatch(f"header {name}", _ABSENT,
                                  ", ".join(_values(verdict.headers, name))))
    found += _check_headers("trailer", verdict.trailers, expect.trailers)
    found += _check_body("body", verdict.body, expect.body, expect.body_contains,
                         expect.body_json)
    for wanted in expect.logs:
        if not any(_log_matches(wanted, line) for line in verdict.logs):
            seen = "\n".join(f"[{line.level}]{f' {line.plugin}:' if line.plugin else ''} "
                             f"{line.message}" for line in verdict.logs)
            label, text = (("log line containing", wanted) if isinstance(wanted, str)
                           else ("log line", str(wanted))
                           if isinstance(wanted, PluginLogCheck)
                           else ("log line matching", f"/{wanted.pattern}/"))
            found.append(Mismatch(label, text, seen or "(no log lines)"))
    upstream = verdict.upstream_request
    if expect.upstream_reached is not None and (upstream is not None) != expect.upstream_reached:
        found.append(Mismatch("upstream reached", str(expect.upstream_reached).lower(),
                              str(upstream is not None).lower()))
    if upstream is None:
        body_checked = expect.upstream_body is not None or \
            expect.upstream_body_contains is not None or expects_json(expect.upstream_body_json)
        for label, wanted in (("upstream headers", ", ".join(expect.upstream_headers)),
                              ("upstream trailers", ", ".join(expect.upstream_trailers)),
                              ("upstream body", "(checked)" if body_checked else "")):
            if wanted:
                found.append(Mismatch(label, wanted, "(the upstream was not reached)"))
    else:
        found += _check_headers("upstream header", upstream.headers, expect.upstream_headers)
        found += _check_headers("upstream trailer", upstream.trailers,
                                expect.upstream_trailers)
        found += _check_body("upstream body", upstream.body, expect.upstream_body,
                             expect.upstream_body_contains, expect.upstream_body_json)
    for name, value in expect.metrics.items():
        seen = verdict.metrics.get(name)
        if seen != value:
            found.append(Mismatch(f"metric {name}", str(value),
                                  _ABSENT if seen is None else str(seen)))
    if expect.elapsed_ms is not None:
        found += _check_elapsed(expect.elapsed_ms, verdict)
    return found


def _check_elapsed(bounds: ElapsedBounds, verdict: Verdict) -> list[Mismatch]:
    """``elapsed_ms`` bounds: exact on virtual time, with slack on Envoy's wall clock."""
    elapsed = verdict.elapsed_ms
    wanted = " and ".join(part for part in (
        f">= {bounds.at_least}ms" if bounds.at_least is not None else "",
        f"<= {bounds.at_most}ms" if bounds.at_most is not None else "") if part)
    if elapsed is None:
        return [Mismatch("elapsed", wanted, "(not measured by this engine)")]
    early = WALL_CLOCK_EARLY_MS if verdict.wall_clock else 0
    late = WALL_CLOCK_LATE_MS if verdict.wall_clock else 0
    if (bounds.at_least is not None and elapsed < bounds.at_least - early) or \
            (bounds.at_most is not None and elapsed > bounds.at_most + late):
        clock = "wall clock" if verdict.wall_clock else "virtual time"
        return [Mismatch("elapsed", wanted, f"{elapsed:g}ms ({clock})")]
    return []


@dataclass(frozen=True)
class Outcome:
    """One exchange, what happened, and how it compared."""

    exchange: Exchange
    verdict: Verdict
    mismatches: list[Mismatch]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def evaluate(traffic: Traffic, verdicts: list[Verdict]) -> list[Outcome]:
    """Pair each exchange with its verdict and compare them."""
    if len(verdicts) != len(traffic.exchanges):
        raise ValueError(f"{len(verdicts)} verdicts for {len(traffic.exchanges)} requests")
    return [Outcome(exchange, verdict, compare(exchange.expect, verdict))
            for exchange, verdict in zip(traffic.exchanges, verdicts)]


#: the log levels a failing request's report shows without ``verbose``
_LEVELS_SHOWN_ON_FAILURE = ("warn", "error", "critical")


def _log_block(outcome: Outcome, verbose: bool, source_dirs: Sequence[Path]) -> Text | None:
    """The request's log lines: warnings and errors of a failing one, all with ``verbose``;
    tracebacks quote the filter's source lines."""
    lines = [line for line in outcome.verdict.logs
             if verbose or line.level in _LEVELS_SHOWN_ON_FAILURE]
    if not lines:
        return None
    text = Text()
    text.append("      log:\n", style="bold")
    for line in lines:
        style = "red" if line.level in ("error", "critical") else (
            "yellow" if line.level == "warn" else "dim")
        first, *rest = quote_sources(line.message, source_dirs).splitlines() or [""]
        text.append(f"        [{line.level}] {first}\n", style=style)
        for more in rest:
            text.append(f"          {more}\n", style=style)
    text.rstrip()
    return text


def _diff_block(outcome: Outcome) -> Text:
    text = Text()
    for mismatch in outcome.mismatches:
        text.append(f"      {mismatch.check}\n", style="bold")
        for prefix, value, style in (("-", mismatch.expected, "green"),
                                     ("+", mismatch.actual, "red")):
            lines = value.splitlines() or [""]
            label = "expected" if prefix == "-" else "actual  "
            text.append(f"        {prefix} {label} {lines[0]}\n", style=style)
            for line in lines[1:]:
                text.append(f"                   {line}\n", style=style)
    for note in outcome.verdict.notes:
        first, *rest = note.strip().splitlines() or [""]
        text.append(f"      note: {first}\n", style="yellow")
        for line in rest:
            text.append(f"            {line}\n", style="yellow")
    text.rstrip()
    return text


def render_outcome(traffic: Traffic, index: int, outcome: Outcome, verbose: bool = False,
                   source_dirs: Sequence[Path] = ()) -> list[Text]:
    """Request #``index``'s part of the report: one line when it passed; for a failure, its
    location, an expected/actual block per failed check, and its warning and error log
    lines.  ``verbose`` shows every log line."""
    parts: list[Text] = []
    name = escape(outcome.exchange.name)
    if outcome.ok:
        parts.append(Text.from_markup(f"  [green]✓[/] #{index} {name}"))
    else:
        where = f"{traffic.path}:{outcome.exchange.line}"
        parts.append(Text.from_markup(f"  [red]✗[/] #{index} {name}  [dim]({escape(where)})[/]"))
        parts.append(_diff_block(outcome))
    if verbose or not outcome.ok:
        logs = _log_block(outcome, verbose, source_dirs)
        if logs is not None:
            parts.append(logs)
    return parts


def render_summary(outcomes: list[Outcome], engine: str = "harness") -> Text:
    """The report's last line: how many requests were as expected."""
    failed = sum(1 for outcome in outcomes if not outcome.ok)
    return Text(f"{len(outcomes)} requests: {len(outcomes) - failed} as expected, "
                f"{failed} not (engine: {engine})", style="red" if failed else "green")


def render_report(traffic: Traffic, outcomes: list[Outcome], engine: str = "harness",
                  verbose: bool = False, source_dirs: Sequence[Path] = ()) -> Group:
    """``render_outcome`` for every request, then ``render_summary``.  Tracebacks quote
    source lines from the filter's files, looked up in ``source_dirs``."""
    parts = [part for index, outcome in enumerate(outcomes, start=1)
             for part in render_outcome(traffic, index, outcome, verbose, source_dirs)]
    return Group(*parts, render_summary(outcomes, engine))


def print_report(traffic: Traffic, outcomes: list[Outcome], engine: str = "harness",
                 console: Console | None = None, verbose: bool = False,
                 source_dirs: Sequence[Path] = ()) -> None:
    """Print ``render_report`` to ``console`` (stdout by default)."""
    report = render_report(traffic, outcomes, engine, verbose, source_dirs)
    (console or Console(highlight=False)).print(report, soft_wrap=True)

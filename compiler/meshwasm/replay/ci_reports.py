"""Machine-readable replay reports for CI: JSON, and JUnit XML (one test case per request)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from typing import Any

from meshwasm.replay.expect import Outcome
from meshwasm.replay.model import Traffic


def _request(index: int, outcome: Outcome) -> dict[str, Any]:
    verdict = outcome.verdict
    return {
        "index": index,
        "name": outcome.exchange.name,
        "line": outcome.exchange.line,
        "ok": outcome.ok,
        "status": verdict.status,
        "elapsed_ms": verdict.elapsed_ms,
        "upstream_reached": verdict.upstream_request is not None,
        "mismatches": [{"check": m.check, "expected": m.expected, "actual": m.actual}
                       for m in outcome.mismatches],
        "logs": [{"level": line.level, "message": line.message} for line in verdict.logs],
        "notes": list(verdict.notes),
    }


def json_report(traffic: Traffic, outcomes: list[Outcome], engine: str) -> str:
    """Every request with its verdict summary, mismatches and log lines; then the counts."""
    failed = sum(1 for outcome in outcomes if not outcome.ok)
    return json.dumps({
        "traffic": str(traffic.path), "engine": engine,
        "requests": [_request(index, outcome) for index, outcome in enumerate(outcomes, 1)],
        "summary": {"requests": len(outcomes), "as_expected": len(outcomes) - failed,
                    "not": failed},
    }, indent=2) + "\n"


def junit_report(traffic: Traffic, outcomes: list[Outcome], engine: str) -> str:
    """One ``testsuite`` (the traffic file) with a ``testcase`` per request; a request not as
    expected has a ``failure`` listing its mismatches; log lines go to ``system-out``."""
    failed = sum(1 for outcome in outcomes if not outcome.ok)
    suite = ElementTree.Element("testsuite", {
        "name": f"{traffic.path} ({engine})", "tests": str(len(outcomes)),
        "failures": str(failed), "errors": "0"})
    for index, outcome in enumerate(outcomes, 1):
        elapsed = outcome.verdict.elapsed_ms
        case = ElementTree.SubElement(suite, "testcase", {
            "classname": traffic.path.stem, "name": f"#{index} {outcome.exchange.name}",
            "file": str(traffic.path), "line": str(outcome.exchange.line),
            "time": f"{(elapsed or 0) / 1000:.3f}"})
        if not outcome.ok:
            failure = ElementTree.SubElement(case, "failure", {
                "message": "; ".join(m.check for m in outcome.mismatches)})
            failure.text = "\n".join(f"{m.check}: expected {m.expected}, got {m.actual}"
                                     for m in outcome.mismatches)
        if outcome.verdict.logs:
            output = ElementTree.SubElement(case, "system-out")
            output.text = "\n".join(f"[{line.level}] {line.message}"
                                    for line in outcome.verdict.logs)
    ElementTree.indent(suite)
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"

"""Comparing verdicts of two engines field by field (source vs compiled mode)."""

from __future__ import annotations

import re

from meshwasm.replay.model import Verdict

TRACEBACK_START = "filter raised in "
_QUALIFIED = re.compile(r"^[\w.]+\.(\w+:)")


def comparable(verdict: Verdict) -> dict[str, object]:
    """Every field of a verdict, with the wall-clock ``date`` header and the body of
    tracebacks (whose frames differ by design: source mode quotes lines) left out."""
    logs = []
    for line in verdict.logs:
        message = line.message
        if message.startswith(TRACEBACK_START):
            lines = message.splitlines()
            # the SDK names an exception by its class, the interpreter with its module
            last = _QUALIFIED.sub(r"\1", lines[-1])
            message = f"{lines[0]} ... {last}"
        logs.append((line.level, message))
    return {"status": verdict.status, "body": verdict.body, "logs": logs,
            "headers": [(k, v) for k, v in verdict.headers if k != "date"],
            "upstream_request": verdict.upstream_request, "notes": verdict.notes,
            "metrics": verdict.metrics}

"""Envoy JSON access logs (one JSON object a line), with the keys of Istio's default JSON
access log format: ``method``, ``path``, ``authority``, ``user_agent``,
``x_forwarded_for``, ``start_time``.  An access log holds no headers beyond these and no
bodies, so it gives requests only: nothing is expected of their answers.
"""

from __future__ import annotations

import json
from pathlib import Path

from meshwasm.capture.fields import epoch_ms, field
from meshwasm.capture.model import CaptureError, CapturedExchange
from meshwasm.replay.model import HttpRequest

#: access log keys that are request headers, and the header each is
_HEADER_KEYS = {"user_agent": "user-agent", "x_forwarded_for": "x-forwarded-for"}


def read_access_log(path: Path) -> list[CapturedExchange]:
    """Every request of the JSON access log at ``path``, in order (blank lines skipped)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CaptureError(f"{path}: cannot read the access log: {error}") from None
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            truncated = " (the line is truncated)" if error.pos >= len(line.rstrip()) else ""
            raise CaptureError(f"{where}: not a JSON object: {error.msg} at column "
                               f"{error.colno}{truncated}") from None
        method = field(record, "method", str, where)
        request_path = field(record, "path", str, where)
        if not request_path.startswith("/"):
            raise CaptureError(f"{where}.path: {request_path[:60]!r} is not a request path")
        headers = [(header, str(record[key])) for key, header in _HEADER_KEYS.items()
                   if record.get(key) not in (None, "", "-")]
        authority = record.get("authority")
        captured = HttpRequest(method=method, path=request_path,
                               authority=authority if isinstance(authority, str) and authority
                               not in ("", "-") else "example.com", headers=headers)
        started = record.get("start_time")
        found.append(CapturedExchange(
            f"line {number}", captured,
            started_ms=epoch_ms(started, f"{where}.start_time")
            if isinstance(started, str) else None))
    if not found:
        raise CaptureError(f"{path}: no access log entries")
    return found

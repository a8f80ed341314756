"""HAR files (HTTP Archive 1.2, as browsers' developer tools and proxies save them).

Each ``log.entries[i]`` gives a request (method, url, headers, ``postData.text``) and the
response the browser received (status, headers, ``content.text``, base64 when
``content.encoding`` says so).  A response with status 0 (blocked, cancelled) is kept as a
request with no recorded answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from meshwasm.capture.fields import decode_base64, epoch_ms, field, load_json
from meshwasm.capture.model import CaptureError, CapturedExchange
from meshwasm.replay.model import Headers, HttpRequest, UpstreamResponse


def read_har(path: Path) -> list[CapturedExchange]:
    """Every entry of the HAR file at ``path``, in order."""
    document = load_json(path, "HAR file")
    log = field(document, "log", dict, f"{path}: (top level)")
    entries = field(log, "entries", list, f"{path}: log")
    return [_entry(entry, f"{path}: log.entries[{index}]") for index, entry in enumerate(entries)]


def _headers(container: dict[str, Any], where: str) -> Headers:
    found = []
    for index, item in enumerate(field(container, "headers", list, where, required=False) or []):
        name = field(item, "name", str, f"{where}.headers[{index}]")
        value = field(item, "value", str, f"{where}.headers[{index}]")
        found.append((name.lower(), value))
    return found


def _entry(entry: Any, where: str) -> CapturedExchange:
    request = field(entry, "request", dict, where)
    url = field(request, "url", str, f"{where}.request")
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise CaptureError(f"{where}.request.url: not an absolute URL: {url[:80]!r}")
    headers = _headers(request, f"{where}.request")
    authority = next((value for name, value in headers if name in (":authority", "host")),
                     parts.netloc)
    body = b""
    post = field(request, "postData", dict, f"{where}.request", required=False)
    if post is not None:
        text = field(post, "text", str, f"{where}.request.postData", required=False) or ""
        body = text.encode()
    captured = HttpRequest(
        method=field(request, "method", str, f"{where}.request").upper(),
        path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        authority=authority, headers=headers, body=body)
    response = _response(entry, where)
    started = field(entry, "startedDateTime", str, where, required=False)
    return CapturedExchange(where.split(": ", 1)[-1], captured, response,
                            started_ms=epoch_ms(started, f"{where}.startedDateTime"))


def _response(entry: dict[str, Any], where: str) -> UpstreamResponse | None:
    response = field(entry, "response", dict, where)
    status = field(response, "status", int, f"{where}.response")
    if status == 0:
        return None
    if not 100 <= status <= 599:
        raise CaptureError(f"{where}.response.status: {status} is no HTTP status")
    content = field(response, "content", dict, f"{where}.response", required=False) or {}
    text = field(content, "text", str, f"{where}.response.content", required=False) or ""
    if content.get("encoding") == "base64":
        body = decode_base64(text, f"{where}.response.content.text")
    else:
        body = text.encode()
    return UpstreamResponse(status=status, headers=_headers(response, f"{where}.response"),
                            body=body)

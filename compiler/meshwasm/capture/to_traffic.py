"""Captured exchanges as a traffic file (``replay/traffic.schema.json``).

Always the requests (method, path, authority, headers, text body); the recorded answer
becomes the ``upstream`` answer (what the upstream answered when the capture saw it, else
what the client received); with ``expect=True`` the recorded response also becomes the
expectation: status, ``content-type`` and the body (text up to ``MAX_EXPECTED_BODY``).
Secret headers are redacted unless ``keep_secrets``; framing and proxy-added headers are
dropped (``capture/headers.py``).  With ``keep_timing`` each request gets ``at:`` (ms after
the first; the requests then go in time order, as a browser's HAR need not list them).
Bodies that are not UTF-8 cannot be written in a traffic file: a request's is
refused naming the entry, a response's is left out with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from meshwasm.capture.headers import redact, request_headers, response_headers
from meshwasm.capture.model import CaptureError, CapturedExchange
from meshwasm.replay.model import Headers, UpstreamResponse

MAX_EXPECTED_BODY = 64 * 1024


@dataclass
class Conversion:
    """The traffic document and what was left out of it, one note per omission."""

    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def yaml_text(self, header: str) -> str:
        comment = "".join(f"# {line}\n" for line in header.splitlines())
        return comment + yaml.safe_dump(self.document, sort_keys=False, allow_unicode=True,
                                        width=100)


def _pairs(headers: Headers) -> dict[str, str] | list[list[str]]:
    names = [name for name, _ in headers]
    if len(set(names)) == len(names):
        return dict(headers)
    return [[name, value] for name, value in headers]


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def to_traffic(exchanges: list[CapturedExchange], *, expect: bool = False,
               keep_secrets: bool = False, keep_timing: bool = False) -> Conversion:
    """The traffic document for ``exchanges`` (see the module docstring)."""
    conversion = Conversion({"requests": []})
    first = min((e.started_ms for e in exchanges if e.started_ms is not None), default=None)
    if keep_timing and first is not None:  # a traffic file's 'at' never decreases
        exchanges = sorted(exchanges, key=lambda e: first if e.started_ms is None
                           else e.started_ms)
    for exchange in exchanges:
        entry = _request_entry(exchange, keep_secrets)
        if keep_timing and exchange.started_ms is not None and first is not None:
            entry["at"] = f"{max(0, round(exchange.started_ms - first))}ms"
        answer = exchange.upstream or (exchange.response if exchange.upstream_reached
                                       is not False else None)
        if answer is not None:
            entry["upstream"] = _answer(answer, exchange, keep_secrets, conversion)
        if expect:
            if exchange.response is None:
                conversion.notes.append(f"{exchange.label}: no response recorded: nothing "
                                        "expected of it")
            else:
                entry["expect"] = _expectation(exchange, conversion)
        conversion.document["requests"].append(entry)
    return conversion


def _request_entry(exchange: CapturedExchange, keep_secrets: bool) -> dict[str, Any]:
    request = exchange.request
    headers = request_headers(request.headers)
    if not keep_secrets:
        headers = redact(headers)
    sent: dict[str, Any] = {"method": request.method, "path": request.path,
                            "authority": request.authority}
    if headers:
        sent["headers"] = _pairs(headers)
    if request.body:
        text = _text(request.body)
        if text is None:
            raise CaptureError(f"{exchange.label}: the request body is not UTF-8 text, which "
                               "a traffic file cannot hold")
        sent["body"] = text
    if request.trailers:
        sent["trailers"] = _pairs(request.trailers)
    return {"name": f"{request.method} {request.path[:80]} ({exchange.label})",
            "request": sent}


def _answer(answer: UpstreamResponse, exchange: CapturedExchange, keep_secrets: bool,
            conversion: Conversion) -> dict[str, Any]:
    headers = response_headers(answer.headers)
    if not keep_secrets:
        headers = redact(headers)
    upstream: dict[str, Any] = {"status": answer.status}
    if headers:
        upstream["headers"] = _pairs(headers)
    if answer.body:
        text = _text(answer.body)
        if text is None:
            conversion.notes.append(f"{exchange.label}: the response body is not UTF-8 "
                                    "text: the upstream answers without it")
        else:
            upstream["body"] = text
    if answer.trailers:
        upstream["trailers"] = _pairs(answer.trailers)
    return upstream


def _expectation(exchange: CapturedExchange, conversion: Conversion) -> dict[str, Any]:
    response = exchange.response
    assert response is not None
    expected: dict[str, Any] = {"status": response.status}
    content_type = next((v for k, v in response.headers if k == "content-type"), None)
    if content_type is not None:
        expected["headers"] = {"content-type": content_type}
    text = _text(response.body)
    if text is not None and len(response.body) <= MAX_EXPECTED_BODY:
        expected["body"] = text
    elif response.body:
        conversion.notes.append(f"{exchange.label}: the response body is "
                                f"{'binary' if text is None else 'over 64 KiB'}: not expected")
    if exchange.upstream_reached is not None:
        expected["upstream_reached"] = exchange.upstream_reached
    return expected

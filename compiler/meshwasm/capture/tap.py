"""Envoy tap traces: the output of ``envoy.filters.http.tap`` with buffered traces written as
JSON (``file_per_tap`` sinks, format ``JSON_BODY_AS_STRING`` or ``JSON_BODY_AS_BYTES``), one
trace per file: ``{"http_buffered_trace": {"request": {...}, "response": {...}}}`` with
``headers`` as ``[{"key", "value"}]`` (or ``raw_value``, base64), ``body`` as ``as_string``
or ``as_bytes`` (base64) and ``truncated``, and ``trailers``.

A trace whose body the tap truncated (past ``max_buffered_rx_bytes``/``tx_bytes``) is
refused: replaying part of a body would not be the request that was seen.  ``record``
places a second tap after the module; its traces (matched by ``x-request-id``) say what the
upstream saw and answered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from meshwasm.capture.fields import decode_base64, field, load_json
from meshwasm.capture.model import CaptureError, CapturedExchange
from meshwasm.replay.model import Headers, HttpRequest, UpstreamResponse


def trace_files(paths: list[Path]) -> list[Path]:
    """The ``.json`` files of ``paths`` (folders are listed), in the order Envoy wrote them.
    ``file_per_tap`` names a file after the stream's id, which is random, and writes it when
    the stream ends: a folder's files are ordered by modification time, then name."""
    found: list[Path] = []
    for path in paths:
        found += written_order(Path(path).glob("*.json")) if Path(path).is_dir() \
            else [Path(path)]
    return found


def written_order(files: Iterable[Path]) -> list[Path]:
    """``files`` in the order they were written (modification time, then natural name)."""
    return sorted(files, key=lambda path: (path.stat().st_mtime_ns, _natural(path)))


def _natural(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def read_tap(paths: list[Path], upstream_paths: list[Path] | None = None
             ) -> list[CapturedExchange]:
    """The traces in ``paths`` (files or folders), in order; with ``upstream_paths``, each
    paired with the upstream-side trace of the same ``x-request-id``."""
    upstream = {}
    for file in trace_files(upstream_paths or []):
        request, response = _trace(file, upstream_side=True)
        if request is not None:
            upstream[_request_id(request)] = response
    exchanges = []
    for file in trace_files(paths):
        request, response = _trace(file)
        assert request is not None
        exchange = CapturedExchange(file.name, request, response)
        if upstream_paths is not None:
            seen = upstream.get(_request_id(request))
            exchange = CapturedExchange(file.name, request, response, upstream=seen,
                                        upstream_reached=seen is not None)
        exchanges.append(exchange)
    if not exchanges:
        raise CaptureError(f"no tap traces (*.json) in {', '.join(map(str, paths))}")
    return exchanges


def read_recorded(folder: Path, client_prefix: str = "client",
                  upstream_prefix: str = "upstream") -> list[CapturedExchange] | None:
    """The traces ``meshwasm record`` keeps (``--traces``): ``client_*.json`` paired with
    ``upstream_*.json``; None when ``folder`` is not laid out so."""
    clients = written_order(Path(folder).glob(f"{client_prefix}_*.json"))
    if not Path(folder).is_dir() or not clients:
        return None
    return read_tap(clients, list(Path(folder).glob(f"{upstream_prefix}_*.json")))


def _request_id(request: HttpRequest) -> str:
    return next((value for name, value in request.headers if name == "x-request-id"), "")


def _trace(path: Path, upstream_side: bool = False
           ) -> tuple[HttpRequest | None, UpstreamResponse | None]:
    """A trace's request and response.  On the upstream side, a stream the module answered
    itself reaches the tap's encoder only: no request (None), not an error."""
    document = load_json(path, "tap trace")
    if isinstance(document, dict) and "http_streamed_trace_segment" in document:
        raise CaptureError(f"{path}: a streamed trace segment; configure the tap to buffer "
                           "traces (no streaming) and write JSON")
    trace = field(document, "http_buffered_trace", dict, f"{path}: (top level)")
    where = f"{path}: http_buffered_trace"
    request = field(trace, "request", dict, where, required=not upstream_side) or {}
    headers = _headers(request, f"{where}.request")
    pseudo = dict(headers)
    if upstream_side and ":method" not in pseudo:
        return None, None
    for name in (":method", ":path"):
        if name not in pseudo:
            raise CaptureError(f"{where}.request.headers: no {name} header (is this an "
                               "HTTP tap trace?)")
    captured = HttpRequest(method=pseudo[":method"], path=pseudo[":path"],
                           authority=pseudo.get(":authority", "example.com"), headers=headers,
                           body=_body(request, f"{where}.request"),
                           trailers=_headers(request, f"{where}.request", "trailers"))
    response = field(trace, "response", dict, where, required=False)
    if not response:
        return captured, None
    answer = _headers(response, f"{where}.response")
    status = dict(answer).get(":status", "")
    if not status.isdigit():
        raise CaptureError(f"{where}.response.headers: no valid :status ({status!r})")
    return captured, UpstreamResponse(
        status=int(status), headers=answer, body=_body(response, f"{where}.response"),
        trailers=_headers(response, f"{where}.response", "trailers"))


def _headers(message: dict[str, Any], where: str, key: str = "headers") -> Headers:
    found = []
    for index, item in enumerate(field(message, key, list, where, required=False) or []):
        spot = f"{where}.{key}[{index}]"
        name = field(item, "key", str, spot)
        value = field(item, "value", str, spot, required=False) or ""
        if not value and item.get("raw_value"):  # Envoy fills one of the two
            value = decode_base64(field(item, "raw_value", str, spot), f"{spot}.raw_value") \
                .decode("utf-8", errors="replace")
        found.append((name.lower(), value))
    return found


def _body(message: dict[str, Any], where: str) -> bytes:
    body = field(message, "body", dict, where, required=False)
    if body is None:
        return b""
    if body.get("truncated"):
        raise CaptureError(f"{where}.body: truncated by the tap (raise its "
                           "max_buffered_rx_bytes/max_buffered_tx_bytes)")
    if "as_bytes" in body:
        return decode_base64(field(body, "as_bytes", str, f"{where}.body"),
                             f"{where}.body.as_bytes")
    return (field(body, "as_string", str, f"{where}.body", required=False) or "").encode()

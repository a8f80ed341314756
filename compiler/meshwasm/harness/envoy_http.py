"""What Envoy itself adds to requests and responses around the filter chain.

Only what a filter or a client can observe in a simple listener -> router -> cluster setup:
the HTTP/1 codec's pseudo-headers, the connection manager's ``x-forwarded-proto`` and
``x-request-id``, the router's ``x-envoy-*`` headers, the local reply's shape, and the
``server``/``date``/framing headers added after the filters ran.
"""

from __future__ import annotations

import random
import uuid
from email.utils import formatdate

from meshwasm.harness.context import LocalReply
from meshwasm.harness.headers import REQUEST_INLINE, RESPONSE_INLINE, HeaderMap
from meshwasm.replay.model import HttpRequest, UpstreamResponse


class RequestIds:
    """Deterministic ``x-request-id`` values (uuid4-shaped), so replays are repeatable."""

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)

    def next(self) -> bytes:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4)).encode()


def downstream_request_headers(request: HttpRequest, request_id: bytes) -> HeaderMap:
    """The request headers as the filter chain first sees them."""
    headers = HeaderMap(inline=REQUEST_INLINE)
    authority = request.authority
    for key, value in request.headers:
        if key.lower() == "host":
            authority = value  # the HTTP/1 codec turns Host into :authority
    headers.add(b":authority", authority.encode())
    headers.add(b":path", request.path.encode())
    headers.add(b":method", request.method.encode())
    headers.add(b":scheme", b"http")
    for key, value in request.headers:
        if key.lower() != "host":
            headers.add(key.encode(), value.encode())
    if request.body and headers.get(b"content-length") is None \
            and headers.get(b"transfer-encoding") is None:
        headers.add(b"content-length", str(len(request.body)).encode())
    if headers.get(b"x-forwarded-proto") is None:
        headers.add(b"x-forwarded-proto", b"http")
    if headers.get(b"x-request-id") is None:
        headers.add(b"x-request-id", request_id)
    return headers


# The route timeout of the Envoy configuration meshwasm generates (deploy/envoy_config.py),
# which the router announces upstream.
ROUTE_TIMEOUT_MS = b"10000"


def upstream_request(headers: HeaderMap, body: bytes) -> HttpRequest:
    """What the upstream receives once the filters are done (the router adds its header)."""
    sent = headers.copy()
    sent.replace(b"x-envoy-expected-rq-timeout-ms", ROUTE_TIMEOUT_MS)
    return HttpRequest(
        method=(sent.get(b":method") or b"").decode(errors="replace"),
        path=(sent.get(b":path") or b"").decode(errors="replace"),
        authority=(sent.get(b":authority") or b"").decode(errors="replace"),
        headers=sent.text_pairs(with_pseudo=False),
        body=body,
    )


def upstream_response_headers(response: UpstreamResponse) -> HeaderMap:
    """The upstream's response headers as the filter chain sees them."""
    headers = HeaderMap(inline=RESPONSE_INLINE)
    headers.add(b":status", str(response.status).encode())
    for key, value in response.headers:
        headers.add(key.encode(), value.encode())
    if headers.get(b"content-length") is None and headers.get(b"transfer-encoding") is None:
        headers.add(b"content-length", str(len(response.body)).encode())
    headers.add(b"x-envoy-upstream-service-time", b"1")
    return headers


def local_reply_headers(reply: LocalReply) -> HeaderMap:
    """Headers of a ``sendLocalReply``: status, the filter's extra headers (added, not set),
    then ``content-length``/``content-type: text/plain`` when there is a body."""
    headers = HeaderMap(inline=RESPONSE_INLINE)
    headers.add(b":status", str(reply.status).encode())
    for key, value in reply.headers:
        headers.add(key, value)
    if reply.body:
        headers.replace(b"content-length", str(len(reply.body)).encode())
        if headers.get(b"content-type") is None:
            headers.add(b"content-type", b"text/plain")
    return headers


def client_response_headers(headers: HeaderMap, body: bytes,
                            close_connection: bool = False) -> list[tuple[str, str]]:
    """The response headers as the client receives them over HTTP/1.1: the connection
    manager adds ``date`` and ``server`` (and ``connection: close``), then the codec adds
    the framing header a response without one needs."""
    final = headers.copy()
    if final.get(b"date") is None:
        final.add(b"date", formatdate(usegmt=True).encode())
    final.replace(b"server", b"envoy")
    if close_connection:
        final.replace(b"connection", b"close")
    if final.get(b"content-length") is None and final.get(b"transfer-encoding") is None:
        if body:
            final.add(b"transfer-encoding", b"chunked")
        else:
            final.add(b"content-length", b"0")
    return final.text_pairs(with_pseudo=False)

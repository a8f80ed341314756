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
    # a request with trailers is sent chunked, and the codec keeps no framing header
    if request.body and not request.trailers and headers.get(b"content-length") is None \
            and headers.get(b"transfer-encoding") is None:
        headers.add(b"content-length", str(len(request.body)).encode())
    if headers.get(b"x-forwarded-proto") is None:
        headers.add(b"x-forwarded-proto", b"http")
    if headers.get(b"x-request-id") is None:
        headers.add(b"x-request-id", request_id)
    return headers


# The route timeout of the Envoy configuration meshwasm generates (deploy/envoy/config.py),
# which the router announces upstream.
ROUTE_TIMEOUT_MS = b"10000"


def upstream_request(headers: HeaderMap, body: bytes,
                     trailers: HeaderMap | None = None) -> HttpRequest:
    """What the upstream receives once the filters are done (the router adds its header;
    with trailers, the HTTP/1 codec sends the body chunked and says so last)."""
    sent = headers.copy()
    sent.replace(b"x-envoy-expected-rq-timeout-ms", ROUTE_TIMEOUT_MS)
    if trailers is not None and sent.get(b"content-length") is None:
        sent.add(b"transfer-encoding", b"chunked")
    return HttpRequest(
        method=(sent.get(b":method") or b"").decode(errors="replace"),
        path=(sent.get(b":path") or b"").decode(errors="replace"),
        authority=(sent.get(b":authority") or b"").decode(errors="replace"),
        headers=sent.text_pairs(with_pseudo=False),
        body=body,
        trailers=[] if trailers is None else trailers.text_pairs(with_pseudo=False),
    )


def upstream_response_headers(response: UpstreamResponse) -> HeaderMap:
    """The upstream's response headers as the filter chain sees them."""
    headers = HeaderMap(inline=RESPONSE_INLINE)
    headers.add(b":status", str(response.status).encode())
    for key, value in response.headers:
        headers.add(key.encode(), value.encode())
    # an upstream with trailers answers chunked: the codec keeps no framing header
    if headers.get(b"content-length") is None and headers.get(b"transfer-encoding") is None \
            and not response.trailers:
        headers.add(b"content-length", str(len(response.body)).encode())
    headers.add(b"x-envoy-upstream-service-time", b"1")
    return headers


def is_grpc_request(request: HttpRequest | None) -> bool:
    """Envoy's ``isGrpcRequestHeaders``: ``content-type`` is ``application/grpc`` or
    ``application/grpc+...``."""
    if request is None:
        return False
    for key, value in request.headers:
        if key.lower() == "content-type":
            kind = value.strip().lower()
            return kind == "application/grpc" or kind.startswith("application/grpc+")
    return False


# Envoy's Grpc::Utility::httpToGrpcStatus for the statuses it maps; anything else: Unknown.
_HTTP_TO_GRPC = {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}
_GRPC_UNKNOWN = 2
#: Envoy's wasm host passes on only the known gRPC codes (0..16); any other ``grpc_status``
#: counts as none (measured with Envoy 1.40: 17 and 2^31-1 gave the HTTP status's code)
_GRPC_STATUS_MAX = 16


def _grpc_message(body: bytes) -> bytes:
    """Envoy's gRPC percent-encoding: bytes outside printable ASCII and ``%`` become %XX."""
    return b"".join(bytes([c]) if 0x20 <= c <= 0x7E and c != 0x25 else b"%%%02X" % c
                    for c in body)


def local_reply_headers(reply: LocalReply, grpc: bool = False) -> HeaderMap:
    """Headers of a ``sendLocalReply``: status, the filter's extra headers (added, not set),
    then ``content-length``/``content-type: text/plain`` when there is a body.

    To a gRPC request (``grpc``) Envoy answers trailers-only instead: ``:status 200``, the
    extra headers, ``content-type: application/grpc``, ``grpc-status`` (the filter's
    ``grpc_status`` when it is a known code, 0..16, else mapped from the HTTP status) and ``grpc-message`` (the
    body, percent-encoded; no body is sent).  A ``grpc_status`` given for a request that is
    not gRPC is ignored.  Pinned by ``runtime_tests/test_harness_timeline.py::test_envoy_agrees``.
    """
    headers = HeaderMap(inline=RESPONSE_INLINE)
    headers.add(b":status", b"200" if grpc else str(reply.status).encode())
    for key, value in reply.headers:
        headers.add(key, value)
    if grpc:
        status = reply.grpc_status if 0 <= reply.grpc_status <= _GRPC_STATUS_MAX \
            else _HTTP_TO_GRPC.get(reply.status, _GRPC_UNKNOWN)
        headers.replace(b"content-type", b"application/grpc")
        headers.replace(b"grpc-status", str(status).encode())
        if reply.body:
            headers.replace(b"grpc-message", _grpc_message(reply.body))
        return headers
    if reply.body:
        headers.replace(b"content-length", str(len(reply.body)).encode())
        if headers.get(b"content-type") is None:
            headers.add(b"content-type", b"text/plain")
    return headers


def client_response_headers(headers: HeaderMap, body: bytes, close_connection: bool = False,
                            trailers: bool = False) -> list[tuple[str, str]]:
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
        if body or trailers:  # HTTP/1 trailers need a chunked body, even an empty one
            final.add(b"transfer-encoding", b"chunked")
        else:
            final.add(b"content-length", b"0")
    return final.text_pairs(with_pseudo=False)


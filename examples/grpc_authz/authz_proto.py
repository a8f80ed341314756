"""The few protobuf messages of ``envoy.service.auth.v3`` the filter needs, by hand.

A filter cannot bundle the ``protobuf`` package's C extension, and these messages are small:
``CheckRequest`` is written field by field, ``CheckResponse`` read the same way, with
``proxy_wasm.protowire``.
Fields: CheckRequest.attributes (1) -> AttributeContext.request (4) -> Request.http (2) ->
HttpRequest {method 2, headers 3 (map<string,string>), path 4, host 5};
CheckResponse {status 1: google.rpc.Status {code 1, message 2}, denied_response 2:
DeniedHttpResponse {body 3}}.
"""

from __future__ import annotations

from proxy_wasm.protowire import field as _field
from proxy_wasm.protowire import fields


def check_request(method: str, path: str, host: str, headers: list[tuple[str, str]]) -> bytes:
    """A serialized ``CheckRequest`` for one HTTP request."""
    http = _field(2, method.encode()) + _field(4, path.encode()) + _field(5, host.encode())
    for name, value in headers:
        http += _field(3, _field(1, name.encode()) + _field(2, value.encode()))
    return _field(1, _field(4, _field(2, http)))


def check_response(message: bytes) -> tuple[int, bytes]:
    """(``status.code``, denied body) of a serialized ``CheckResponse``."""
    top = fields(message)
    status = top.get(1, b"")
    code = fields(status).get(1, 0) if isinstance(status, bytes) else 0
    denied = top.get(2, b"")
    body = fields(denied).get(3, b"") if isinstance(denied, bytes) else b""
    return int(code) if isinstance(code, int) else 0, body if isinstance(body, bytes) else b""

"""The few protobuf messages of ``envoy.service.auth.v3`` the filter needs, by hand.

A filter cannot bundle the ``protobuf`` package's C extension, and these messages are small:
``CheckRequest`` is written field by field, ``CheckResponse`` read the same way (protobuf's
wire format: a key ``field_number << 3 | wire_type``, then a varint or a length and bytes).
Fields: CheckRequest.attributes (1) -> AttributeContext.request (4) -> Request.http (2) ->
HttpRequest {method 2, headers 3 (map<string,string>), path 4, host 5};
CheckResponse {status 1: google.rpc.Status {code 1, message 2}, denied_response 2:
DeniedHttpResponse {body 3}}.
"""

from __future__ import annotations


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, value: bytes) -> bytes:
    """A length-delimited field."""
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def check_request(method: str, path: str, host: str, headers: list[tuple[str, str]]) -> bytes:
    """A serialized ``CheckRequest`` for one HTTP request."""
    http = _field(2, method.encode()) + _field(4, path.encode()) + _field(5, host.encode())
    for name, value in headers:
        http += _field(3, _field(1, name.encode()) + _field(2, value.encode()))
    return _field(1, _field(4, _field(2, http)))


def fields(message: bytes) -> dict[int, bytes | int]:
    """Field number -> value (last wins) of varint and length-delimited fields."""
    found: dict[int, bytes | int] = {}
    position = 0

    def varint() -> int:
        nonlocal position
        value = shift = 0
        while True:
            if position >= len(message):
                raise ValueError("truncated protobuf message")
            byte = message[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while position < len(message):
        key = varint()
        if key & 7 == 0:
            found[key >> 3] = varint()
        elif key & 7 == 2:
            size = varint()
            found[key >> 3] = message[position:position + size]
            position += size
        else:
            raise ValueError(f"unexpected wire type {key & 7}")
    return found


def check_response(message: bytes) -> tuple[int, bytes]:
    """(``status.code``, denied body) of a serialized ``CheckResponse``."""
    top = fields(message)
    status = top.get(1, b"")
    code = fields(status).get(1, 0) if isinstance(status, bytes) else 0
    denied = top.get(2, b"")
    body = fields(denied).get(3, b"") if isinstance(denied, bytes) else b""
    return int(code) if isinstance(code, int) else 0, body if isinstance(body, bytes) else b""

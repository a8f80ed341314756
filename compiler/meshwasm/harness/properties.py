"""``proxy_get_property`` / ``proxy_set_property``: the attributes Envoy exposes, a subset.

Paths are segments joined by ``\\0`` (``request\\0path``).  Strings come back as their bytes,
integers as 8-byte little-endian, maps in the pairs encoding, as Envoy serializes CEL values.
A property a filter set with ``proxy_set_property`` is read back from the stream's filter
state, as Envoy does for paths outside its own vocabulary.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from meshwasm.harness import abi
from meshwasm.harness.context import Context
from meshwasm.harness.headers import HeaderMap, encode_pairs

DOWNSTREAM_ADDRESS = b"127.0.0.1:40000"
DOWNSTREAM_PORT = 40000
LISTENER_ADDRESS = b"127.0.0.1:10000"
LISTENER_PORT = 10000


def _int64(value: int) -> bytes:
    return struct.pack("<q", value)


def _header(name: bytes) -> Callable[[HeaderMap], bytes | None]:
    return lambda headers: headers.get(name)


def _url_path(headers: HeaderMap) -> bytes | None:
    path = headers.get(b":path")
    return None if path is None else path.split(b"?", 1)[0]


def _query(headers: HeaderMap) -> bytes | None:
    path = headers.get(b":path")
    if path is None:
        return None
    return path.split(b"?", 1)[1] if b"?" in path else b""


_REQUEST: dict[bytes, Callable[[HeaderMap], bytes | None]] = {
    b"path": _header(b":path"),
    b"url_path": _url_path,
    b"host": _header(b":authority"),
    b"scheme": _header(b":scheme"),
    b"method": _header(b":method"),
    b"referer": _header(b"referer"),
    b"useragent": _header(b"user-agent"),
    b"id": _header(b"x-request-id"),
    b"query": _query,
    b"headers": lambda headers: encode_pairs(headers.pairs()),
}


def get_property(context: Context, path: bytes) -> tuple[int, bytes]:
    """Resolve ``path`` for ``context``: ``(abi.OK, value)`` or ``(abi.NOT_FOUND, b"")``."""
    parts = path.split(b"\0")
    head = parts[0]
    host = context.host
    options = host.options
    if len(parts) == 1:
        simple = {
            b"plugin_name": options.plugin_name.encode(),
            b"plugin_root_id": options.root_id.encode(),
            b"plugin_vm_id": options.vm_id.encode(),
            b"cluster_name": b"meshwasm_upstream",  # envoy_config.CLUSTER_NAME
            b"route_name": b"",
        }
        if head in simple:
            return abi.OK, simple[head]
    if context.is_root:
        return _filter_state(context, path)
    if head == b"request" and len(parts) == 2:
        if parts[1] == b"protocol":
            return abi.OK, b"HTTP/1.1"
        headers = context.final_request_headers
        reader = _REQUEST.get(parts[1])
        if headers is not None and reader is not None:
            value = reader(headers)
            return (abi.OK, value) if value is not None else (abi.NOT_FOUND, b"")
    if head == b"request" and len(parts) == 3 and parts[1] == b"headers":
        value = context.final_request_headers.get(parts[2]) \
            if context.final_request_headers is not None else None
        return (abi.OK, value) if value is not None else (abi.NOT_FOUND, b"")
    if head == b"response" and len(parts) >= 2:
        return _response(context, parts[1:])
    if head in (b"source", b"destination") and len(parts) == 2:
        address, port = ((DOWNSTREAM_ADDRESS, DOWNSTREAM_PORT) if head == b"source"
                         else (LISTENER_ADDRESS, LISTENER_PORT))
        if parts[1] == b"address":
            return abi.OK, address
        if parts[1] == b"port":
            return abi.OK, _int64(port)
    return _filter_state(context, path)


def _response(context: Context, parts: list[bytes]) -> tuple[int, bytes]:
    if parts == [b"code"] and context.response_status:
        return abi.OK, _int64(context.response_status)
    if parts == [b"code_details"] and context.response_details:
        return abi.OK, context.response_details.encode()
    headers = context.final_response_headers
    if headers is not None and parts == [b"headers"]:
        return abi.OK, encode_pairs(headers.pairs())
    if headers is not None and len(parts) == 2 and parts[0] == b"headers":
        value = headers.get(parts[1])
        return (abi.OK, value) if value is not None else (abi.NOT_FOUND, b"")
    return abi.NOT_FOUND, b""


def _filter_state(context: Context, path: bytes) -> tuple[int, bytes]:
    value = context.filter_state.get(path)
    return (abi.OK, value) if value is not None else (abi.NOT_FOUND, b"")


def set_property(context: Context, path: bytes, value: bytes) -> int:
    """``proxy_set_property``: kept in the stream's filter state."""
    context.filter_state[path] = value
    return abi.OK

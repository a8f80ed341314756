"""Proxy attributes (Envoy's "attributes": request, response, connection, source, …).

``get("request", "path")`` returns the raw bytes; the typed helpers decode the common ones
(Envoy encodes integers as 8 little-endian bytes and booleans as one byte).  Legal where the
attribute exists: request attributes from ``on_request_headers`` on, and so on.
"""

from __future__ import annotations

from . import _hostcalls


def get(*path: str) -> bytes | None:
    """Raw attribute value, or None when the proxy does not have it."""
    return _hostcalls.abi.get_property("\0".join(path))


def set(*path_and_value: str | bytes) -> None:  # noqa: A001 - mirrors the ABI's name
    """``set("filter_state", "name", b"value")``: the last argument is the value."""
    *path, value = path_and_value
    _hostcalls.abi.set_property("\0".join(str(part) for part in path), value)


def get_str(*path: str) -> str | None:
    value = get(*path)
    return None if value is None else value.decode("utf-8", "surrogateescape")


def get_int(*path: str) -> int | None:
    value = get(*path)
    return None if value is None or len(value) != 8 else int.from_bytes(value, "little",
                                                                         signed=True)


def get_bool(*path: str) -> bool | None:
    value = get(*path)
    return None if not value else value[0] != 0


def request_path() -> str | None:
    return get_str("request", "path")


def request_method() -> str | None:
    return get_str("request", "method")


def source_address() -> str | None:
    """The downstream peer, ``ip:port``."""
    return get_str("source", "address")


def destination_address() -> str | None:
    return get_str("destination", "address")


def connection_mtls() -> bool | None:
    """Whether the downstream connection uses mutual TLS."""
    return get_bool("connection", "mtls")


def response_code() -> int | None:
    return get_int("response", "code")


def plugin_name() -> str | None:
    return get_str("plugin_name")


def cluster_name() -> str | None:
    """The upstream cluster the request was routed to."""
    return get_str("cluster_name")

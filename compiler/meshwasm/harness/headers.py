"""Header maps with Envoy's semantics, and the proxy-wasm pairs encoding.

What Envoy's ``Http::HeaderMapImpl`` does and a plain multimap would not:

- keys are lower-cased (ASCII only) on every call;
- pseudo-headers (``:path`` ...) are kept in front of all other headers;
- *inline* headers (a fixed set per map kind: ``:path``, ``content-type``, ``user-agent`` ...)
  hold one entry: adding a second value appends it to the first with a comma;
- ``replace`` removes every entry of the key, then adds one (so it moves to the end);
- ``get`` answers the first value only;
- ``byte_size`` (what ``proxy_get_header_map_size`` returns) is the sum of key and value lengths.

Keys and values are ``bytes``: that is what crosses the ABI, and it spares a decode per call.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

_COMMON_INLINE = frozenset({
    b"connection", b"content-length", b"content-type", b"keep-alive", b"proxy-connection",
    b"proxy-status", b"transfer-encoding", b"upgrade", b"via", b"x-request-id",
    b"x-envoy-decorator-operation",
})
REQUEST_INLINE = _COMMON_INLINE | frozenset({
    b":authority", b":method", b":path", b":protocol", b":scheme", b"expect", b"grpc-timeout",
    b"te", b"user-agent", b"x-client-trace-id", b"x-forwarded-client-cert", b"x-forwarded-for",
    b"x-forwarded-host", b"x-forwarded-proto", b"x-envoy-attempt-count",
    b"x-envoy-expected-rq-timeout-ms", b"x-envoy-internal", b"x-envoy-max-retries",
    b"x-envoy-original-path", b"x-envoy-retry-on", b"x-envoy-upstream-rq-timeout-ms",
})
RESPONSE_INLINE = _COMMON_INLINE | frozenset({
    b":status", b"date", b"grpc-message", b"grpc-status", b"location", b"server",
    b"x-envoy-degraded", b"x-envoy-immediate-health-check-fail", b"x-envoy-overloaded",
    b"x-envoy-rate-limited", b"x-envoy-upstream-canary", b"x-envoy-upstream-service-time",
})
RESPONSE_TRAILERS_INLINE = frozenset({b"grpc-message", b"grpc-status"})
NO_INLINE: frozenset[bytes] = frozenset()


class HeaderMap:
    """An ordered header multimap behaving as Envoy's (see the module docstring)."""

    __slots__ = ("_entries", "_inline")

    def __init__(self, pairs: Iterable[tuple[bytes, bytes]] = (),
                 inline: frozenset[bytes] = NO_INLINE) -> None:
        self._entries: list[list[bytes]] = []
        self._inline = inline
        for key, value in pairs:
            self.add(key, value)

    @classmethod
    def from_text(cls, pairs: Iterable[tuple[str, str]],
                  inline: frozenset[bytes] = NO_INLINE) -> HeaderMap:
        """Build from ``str`` pairs (UTF-8 encoded)."""
        return cls(((k.encode(), v.encode()) for k, v in pairs), inline)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> bytes | None:
        """The first value of ``key``, or ``None``."""
        key = key.lower()
        for entry in self._entries:
            if entry[0] == key:
                return entry[1]
        return None

    def get_all(self, key: bytes) -> list[bytes]:
        key = key.lower()
        return [value for k, value in self._entries if k == key]

    def add(self, key: bytes, value: bytes) -> None:
        """Add an entry; an inline header already present gets ``,value`` appended."""
        key = key.lower()
        entries = self._entries
        if key in self._inline:
            for entry in entries:
                if entry[0] == key:
                    entry[1] = entry[1] + b"," + value
                    return
        if key[:1] == b":":
            at = 0
            while at < len(entries) and entries[at][0][:1] == b":":
                at += 1
            entries.insert(at, [key, value])
        else:
            entries.append([key, value])

    def remove(self, key: bytes) -> None:
        """Remove every entry of ``key`` (absent keys are fine)."""
        key = key.lower()
        self._entries = [entry for entry in self._entries if entry[0] != key]

    def replace(self, key: bytes, value: bytes) -> None:
        """Envoy's ``setCopy``: remove all entries of ``key``, then add one."""
        self.remove(key)
        self.add(key, value)

    def set_pairs(self, pairs: Iterable[tuple[bytes, bytes]]) -> None:
        """Replace the whole map (``proxy_set_header_map_pairs``)."""
        self._entries = []
        for key, value in pairs:
            self.add(key, value)

    def pairs(self) -> list[tuple[bytes, bytes]]:
        return [(k, v) for k, v in self._entries]

    def text_pairs(self, with_pseudo: bool = True) -> list[tuple[str, str]]:
        """Entries as ``str`` pairs (UTF-8, undecodable bytes replaced)."""
        return [(k.decode(errors="replace"), v.decode(errors="replace"))
                for k, v in self._entries if with_pseudo or k[:1] != b":"]

    def byte_size(self) -> int:
        return sum(len(k) + len(v) for k, v in self._entries)

    def copy(self) -> HeaderMap:
        clone = HeaderMap(inline=self._inline)
        clone._entries = [list(entry) for entry in self._entries]
        return clone

    def __repr__(self) -> str:
        return f"HeaderMap({self.text_pairs()!r})"


def encode_pairs(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """The proxy-wasm pairs wire form: count, (key len, value len)*, then ``key\\0value\\0``*."""
    if not pairs:
        return b""
    sizes = [len(pairs)]
    for key, value in pairs:
        sizes.append(len(key))
        sizes.append(len(value))
    parts = [struct.pack(f"<{len(sizes)}I", *sizes)]
    for key, value in pairs:
        parts.append(key)
        parts.append(b"\0")
        parts.append(value)
        parts.append(b"\0")
    return b"".join(parts)


def decode_pairs(data: bytes) -> list[tuple[bytes, bytes]] | None:
    """Parse the pairs wire form; ``None`` when it is malformed, ``[]`` for empty input."""
    if not data:
        return []
    if len(data) < 4:
        return None
    (count,) = struct.unpack_from("<I", data, 0)
    header_end = 4 + 8 * count
    if header_end > len(data):
        return None
    sizes = struct.unpack_from(f"<{2 * count}I", data, 4)
    pos = header_end
    pairs = []
    for i in range(count):
        key_len, value_len = sizes[2 * i], sizes[2 * i + 1]
        end = pos + key_len + 1 + value_len + 1
        if end > len(data):
            return None
        key = data[pos:pos + key_len]
        value = data[pos + key_len + 1:pos + key_len + 1 + value_len]
        pairs.append((key, value))
        pos = end
    return pairs

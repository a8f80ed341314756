"""Root and stream contexts: what one ``context_id`` can see and change, as Envoy rules it.

A ``Context`` answers the ABI's operations with a status code (``abi.OK`` ...) and a value,
in Python types; it knows nothing of Wasm memory (the engines copy bytes in and out).

Envoy's rules copied here (``source/extensions/common/wasm/context.cc``):

- a header map is reachable only while its callback runs, or while the stream is paused in
  it; once the callback answers Continue the map is gone and calls on it get BadArgument
  (so request headers can *not* be read from ``on_response_headers``);
- during ``proxy_on_log`` the final request/response headers are readable, never writable;
- a body buffer is reachable during its ``on_*_body`` callback;
- the plugin configuration buffer exists only during ``on_configure`` (and the root's
  ``on_context_create``); the VM configuration always;
- ``proxy_send_local_response`` only records the reply: it is sent after the callback returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from meshwasm.harness import abi
from meshwasm.harness.headers import RESPONSE_TRAILERS_INLINE, NO_INLINE, HeaderMap
from meshwasm.replay.model import HttpRequest, LogLine

if TYPE_CHECKING:
    from meshwasm.harness.host import Host


@dataclass
class LocalReply:
    """A reply the filter asked for with ``proxy_send_local_response``."""

    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]
    grpc_status: int
    details: bytes


@dataclass
class HttpCallResponse:
    """The answer to an http_call, readable during ``proxy_on_http_call_response`` only
    (from any context of the VM: Envoy reads it through the root context)."""

    headers: HeaderMap
    body: bytes
    trailers: HeaderMap


@dataclass
class Context:
    """One context id: the root context (``root_id == 0``) or an HTTP stream."""

    host: Host
    id: int
    root_id: int = 0
    request: HttpRequest | None = None  # as the client sent it (properties read it)
    logs: list[LogLine] = field(default_factory=list)
    # Maps and buffers reachable *now* (None: not available in this phase).
    request_headers: HeaderMap | None = None
    response_headers: HeaderMap | None = None
    request_trailers: HeaderMap | None = None
    response_trailers: HeaderMap | None = None
    request_body: bytearray | None = None
    response_body: bytearray | None = None
    end_of_stream: bool = False
    plugin_config_visible: bool = False
    # Access-log phase: read-only views of the final maps.
    access_log_phase: bool = False
    final_request_headers: HeaderMap | None = None
    final_response_headers: HeaderMap | None = None
    # Actions the filter asked for during the current callback, applied after it returns
    # (a resume comes through the proxy's event loop, which adds it here).
    local_reply: LocalReply | None = None
    continue_requested: set[int] = field(default_factory=set)
    reset_requested: bool = False
    # Stream facts: has the filter seen the end of the request; will the connection close.
    request_complete: bool = False
    close_connection: bool = False
    notes: list[str] = field(default_factory=list)  # the host's own remarks on this stream
    # Response facts for properties.
    response_status: int = 0
    response_details: str = ""
    filter_state: dict[bytes, bytes] = field(default_factory=dict)

    @property
    def is_root(self) -> bool:
        return self.root_id == 0

    # -- header maps ---------------------------------------------------------------------
    def _mutable_map(self, map_type: int) -> HeaderMap | None:
        if map_type == abi.REQUEST_HEADERS:
            return self.request_headers
        if map_type == abi.RESPONSE_HEADERS:
            return self.response_headers
        if map_type == abi.REQUEST_TRAILERS:
            # Envoy creates request trailers on demand at the end of the body.
            if self.request_trailers is None and self.request_body is not None \
                    and self.end_of_stream:
                self.request_trailers = HeaderMap(inline=NO_INLINE)
            return self.request_trailers
        if map_type == abi.RESPONSE_TRAILERS:
            if self.response_trailers is None and self.response_body is not None \
                    and self.end_of_stream:
                self.response_trailers = HeaderMap(inline=RESPONSE_TRAILERS_INLINE)
            return self.response_trailers
        return None

    def _readable_map(self, map_type: int) -> HeaderMap | None:
        if map_type in (abi.HTTP_CALL_RESPONSE_HEADERS, abi.HTTP_CALL_RESPONSE_TRAILERS):
            answer = self.host.http_call_response  # Envoy reads the root context's
            if answer is None:
                return None
            return answer.headers if map_type == abi.HTTP_CALL_RESPONSE_HEADERS \
                else answer.trailers
        if map_type in (abi.GRPC_RECEIVE_INITIAL_METADATA, abi.GRPC_RECEIVE_TRAILING_METADATA):
            return self.host.grpc.received_metadata(map_type)
        if self.access_log_phase:
            if map_type == abi.REQUEST_HEADERS:
                return self.final_request_headers
            if map_type == abi.RESPONSE_HEADERS:
                return self.final_response_headers
            return None
        if map_type == abi.REQUEST_HEADERS:
            return self.request_headers
        if map_type == abi.RESPONSE_HEADERS:
            return self.response_headers
        if map_type == abi.REQUEST_TRAILERS:
            return self.request_trailers
        if map_type == abi.RESPONSE_TRAILERS:
            return self.response_trailers
        return None

    def get_header(self, map_type: int, key: bytes) -> tuple[int, bytes]:
        """``proxy_get_header_map_value``: the first value of ``key``."""
        if map_type > abi.MAX_MAP_TYPE:
            return abi.BAD_ARGUMENT, b""
        headers = self._readable_map(map_type)
        if headers is None:
            return (abi.NOT_FOUND if self.access_log_phase else abi.BAD_ARGUMENT), b""
        value = headers.get(key)
        if value is None:
            return abi.NOT_FOUND, b""
        return abi.OK, value

    def get_header_pairs(self, map_type: int) -> tuple[int, list[tuple[bytes, bytes]]]:
        """``proxy_get_header_map_pairs``: an unavailable map reads as empty, as in Envoy."""
        if map_type > abi.MAX_MAP_TYPE:
            return abi.BAD_ARGUMENT, []
        headers = self._readable_map(map_type)
        return abi.OK, (headers.pairs() if headers is not None else [])

    def add_header(self, map_type: int, key: bytes, value: bytes) -> int:
        headers = self._mutable_map(map_type) if map_type <= abi.MAX_MAP_TYPE else None
        if headers is None:
            return abi.BAD_ARGUMENT
        headers.add(key, value)
        return abi.OK

    def replace_header(self, map_type: int, key: bytes, value: bytes) -> int:
        headers = self._mutable_map(map_type) if map_type <= abi.MAX_MAP_TYPE else None
        if headers is None:
            return abi.BAD_ARGUMENT
        headers.replace(key, value)
        return abi.OK

    def remove_header(self, map_type: int, key: bytes) -> int:
        headers = self._mutable_map(map_type) if map_type <= abi.MAX_MAP_TYPE else None
        if headers is None:
            return abi.BAD_ARGUMENT
        headers.remove(key)
        return abi.OK

    def set_header_pairs(self, map_type: int, pairs: list[tuple[bytes, bytes]]) -> int:
        headers = self._mutable_map(map_type) if map_type <= abi.MAX_MAP_TYPE else None
        if headers is None:
            return abi.BAD_ARGUMENT
        headers.set_pairs(pairs)
        return abi.OK

    def header_map_size(self, map_type: int) -> tuple[int, int]:
        """``proxy_get_header_map_size``: Envoy answers the *byte* size, not the count."""
        headers = self._mutable_map(map_type) if map_type <= abi.MAX_MAP_TYPE else None
        if headers is None:
            return abi.BAD_ARGUMENT, 0
        return abi.OK, headers.byte_size()

    # -- buffers ---------------------------------------------------------------------------
    def _buffer(self, buffer_type: int) -> bytes | bytearray | None:
        if buffer_type == abi.HTTP_REQUEST_BODY:
            return self.request_body if self.request_body is not None else b""
        if buffer_type == abi.HTTP_RESPONSE_BODY:
            return self.response_body if self.response_body is not None else b""
        if buffer_type == abi.PLUGIN_CONFIGURATION:
            return self.host.plugin_config if self.plugin_config_visible else None
        if buffer_type == abi.VM_CONFIGURATION:
            return self.host.vm_config
        if buffer_type == abi.HTTP_CALL_RESPONSE_BODY and self.host.http_call_response:
            return self.host.http_call_response.body
        if buffer_type == abi.GRPC_RECEIVE_BUFFER:
            return self.host.grpc.received_message()
        return None

    def get_buffer(self, buffer_type: int, start: int, length: int) -> tuple[int, bytes]:
        """``proxy_get_buffer_bytes``: reads past the end are clipped, as in Envoy."""
        if buffer_type > abi.MAX_BUFFER_TYPE:
            return abi.BAD_ARGUMENT, b""
        buffer = self._buffer(buffer_type)
        if buffer is None:
            return abi.NOT_FOUND, b""
        return abi.OK, bytes(buffer[start:start + length])

    def buffer_size(self, buffer_type: int) -> tuple[int, int]:
        if buffer_type > abi.MAX_BUFFER_TYPE:
            return abi.BAD_ARGUMENT, 0
        buffer = self._buffer(buffer_type)
        if buffer is None:
            return abi.NOT_FOUND, 0
        return abi.OK, len(buffer)

    def set_buffer(self, buffer_type: int, start: int, length: int, data: bytes) -> int:
        """``proxy_set_buffer_bytes`` with Envoy's rules: prepend (0, 0), replace all
        (0, >= size), append (start >= size); anything else is BadArgument."""
        if buffer_type > abi.MAX_BUFFER_TYPE:
            return abi.BAD_ARGUMENT
        if buffer_type == abi.HTTP_REQUEST_BODY:
            buffer = self.request_body
        elif buffer_type == abi.HTTP_RESPONSE_BODY:
            buffer = self.response_body
        elif self._buffer(buffer_type) is None:
            return abi.NOT_FOUND
        else:
            return abi.BAD_ARGUMENT  # configuration buffers are read-only
        if buffer is None:
            return abi.BAD_ARGUMENT
        size = len(buffer)
        if start == 0 and length == 0:
            buffer[0:0] = data
        elif start == 0 and length >= size:
            buffer[:] = data
        elif start >= size:
            buffer.extend(data)
        else:
            return abi.BAD_ARGUMENT
        return abi.OK

    # -- stream control ------------------------------------------------------------------
    def send_local_response(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]],
                            grpc_status: int, details: bytes) -> int:
        """Record the reply; the stream driver sends it when the callback has returned."""
        if self.is_root:
            return abi.OK  # Envoy: no decoder callbacks on a root context, silently nothing
        self.local_reply = LocalReply(status, body, headers, grpc_status, details)
        return abi.OK

    def continue_stream(self, stream_type: int) -> int:
        """``proxy_continue_stream``: posted, the stream goes on once the callback returned."""
        if stream_type in (abi.STREAM_REQUEST, abi.STREAM_RESPONSE):
            self.host.proxy.loop.post_resume(self, stream_type)
            return abi.OK
        if stream_type == abi.STREAM_DOWNSTREAM:
            return abi.OK
        if stream_type == abi.STREAM_UPSTREAM:
            return abi.UNIMPLEMENTED
        return abi.BAD_ARGUMENT

    def close_stream(self, stream_type: int) -> int:
        if stream_type > abi.STREAM_UPSTREAM:
            return abi.BAD_ARGUMENT
        if stream_type in (abi.STREAM_REQUEST, abi.STREAM_RESPONSE) and not self.is_root:
            self.reset_requested = True
        return abi.OK

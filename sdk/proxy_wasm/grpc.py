"""gRPC calls and streams from a filter (``proxy_grpc_*``), typed.

Every context (root or stream) can call a gRPC method on an Envoy cluster that speaks HTTP/2::

    token = self.grpc_call("authz", "envoy.service.auth.v3.Authorization", "Check",
                           request_bytes, timeout_ms=200)

A call returns a token; the answer comes later, to the context that made the call:
``on_grpc_receive(token, message)`` with the response message (bytes) when the call
succeeded, ``on_grpc_close(token, status, message)`` when it failed (a ``GrpcStatus`` other
than OK: the server's error, ``DEADLINE_EXCEEDED`` past ``timeout_ms``, ``UNAVAILABLE`` when
the upstream reset).  A stream (``grpc_stream``, then ``grpc_send``) gets
``on_grpc_receive_initial_metadata``, one ``on_grpc_receive`` per message,
``on_grpc_receive_trailing_metadata`` and ``on_grpc_close`` (with OK too).  From a stream
callback, return ``Action.PAUSE`` and resume the stream once the answer is in.

Messages are bytes.  With protobuf classes available to the filter, ``encode(message)`` and
``decode(MessageClass, data)`` convert (any object with ``SerializeToString``/``FromString``
works; this module never imports protobuf itself).
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `from typing`: that would freeze typing into every module

from enum import IntEnum

from . import _hostcalls
from .types import BufferType, MapType

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

#: gRPC call/stream token -> the context that made it (answers go to the root context)
GRPC_CALLOUTS: dict[int, int] = {}
#: tokens of unary calls (not streams): their one message ends them
_UNARY: set[int] = set()


def answer_owner(token: int, final: bool) -> int | None:
    """The context that made call or stream ``token``; forgotten once ``final`` (its close),
    as Envoy reuses tokens."""
    if final:
        _UNARY.discard(token)
        return GRPC_CALLOUTS.pop(token, None)
    return GRPC_CALLOUTS.get(token)


def message_owner(token: int) -> int | None:
    """``answer_owner`` for a received message: a unary call's one message ends it."""
    return answer_owner(token, token in _UNARY)


class GrpcStatus(IntEnum):
    """gRPC status codes (``on_grpc_close``'s ``status``)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


def encode(message: Any) -> bytes:
    """A protobuf message (anything with ``SerializeToString``) or bytes, as bytes."""
    if isinstance(message, (bytes, bytearray)):
        return bytes(message)
    data: bytes = message.SerializeToString()
    return data


def decode(message_type: Any, data: bytes) -> Any:
    """``message_type.FromString(data)``: a protobuf message class parses the answer."""
    return message_type.FromString(data)


class GrpcCalls:
    """The gRPC half of every context (``RootContext`` and ``HttpContext`` inherit it)."""

    context_id: int

    def grpc_call(self, cluster: str, service: str, method: str, message: Any,
                  metadata: Iterable[tuple[str, str]] = (), timeout_ms: int = 5000) -> int:
        """Call ``service``/``method`` (``"pkg.Service"``, ``"Method"``) on ``cluster`` with one
        request message (bytes or a protobuf message); returns the call's token.
        ``timeout_ms`` 0: no deadline."""
        token = _hostcalls.abi.grpc_call(cluster, service, method, list(metadata),
                                         encode(message), timeout_ms)
        GRPC_CALLOUTS[token] = self.context_id
        _UNARY.add(token)
        return token

    def grpc_stream(self, cluster: str, service: str, method: str,
                    metadata: Iterable[tuple[str, str]] = ()) -> int:
        """Open a stream to ``service``/``method`` on ``cluster``; send with ``grpc_send``."""
        token = _hostcalls.abi.grpc_stream(cluster, service, method, list(metadata))
        GRPC_CALLOUTS[token] = self.context_id
        return token

    @staticmethod
    def grpc_send(token: int, message: Any, end_stream: bool = False) -> None:
        """Send a message on stream ``token``; ``end_stream`` half-closes it."""
        _hostcalls.abi.grpc_send(token, encode(message), end_stream)

    @staticmethod
    def grpc_cancel(token: int) -> None:
        """Cancel call or stream ``token``: no more callbacks come for it."""
        answer_owner(token, final=True)
        _hostcalls.abi.grpc_cancel(token)

    @staticmethod
    def grpc_close(token: int) -> None:
        """Close call or stream ``token`` (a stream: half-close from this side)."""
        _hostcalls.abi.grpc_close(token)

    def on_grpc_receive_initial_metadata(self, token: int,
                                         metadata: list[tuple[str, str]]) -> None:
        """A stream's initial metadata arrived."""

    def on_grpc_receive(self, token: int, message: bytes) -> None:
        """A response message arrived (a call: its answer; the call is then over)."""

    def on_grpc_receive_trailing_metadata(self, token: int,
                                          metadata: list[tuple[str, str]]) -> None:
        """A stream's trailing metadata arrived."""

    def on_grpc_close(self, token: int, status: int, message: str) -> None:
        """Call or stream ``token`` ended with ``status`` (a ``GrpcStatus``) and ``message``."""


def received_metadata(initial: bool) -> list[tuple[str, str]]:
    """The metadata of the gRPC answer being delivered (initial or trailing)."""
    map_type = MapType.GRPC_RECEIVE_INITIAL_METADATA if initial \
        else MapType.GRPC_RECEIVE_TRAILING_METADATA
    return _hostcalls.abi.get_headers(int(map_type))


def received_message(size: int) -> bytes:
    """The gRPC message being delivered."""
    if size == 0:
        return b""
    return _hostcalls.abi.get_buffer(int(BufferType.GRPC_RECEIVE_BUFFER), 0, size) or b""


def closed_status() -> tuple[int, str]:
    """(code, message) of the gRPC call being closed."""
    code, message = _hostcalls.abi.get_status()
    return code, message.decode("utf-8", "replace")

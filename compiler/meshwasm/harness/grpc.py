"""gRPC calls and streams (``proxy_grpc_*``) against the traffic file's scripted servers.

Envoy's behaviour copied here (Envoy ``source/extensions/common/wasm/context.cc``; pinned
against Envoy and a grpcio server by ``runtime_tests/test_grpc.py``):

- a call or stream belongs to the VM's **root** context, whatever context made it: every
  answer goes to ``proxy_on_grpc_*(root_id, token, ...)`` once the calling callback
  returned (the SDK routes it to the caller with ``proxy_set_effective_context``);
- tokens: calls odd, streams even, from one counter starting at 1 (per VM);
- an upstream Envoy does not know answers ParseFailure (a traffic file's ``grpc`` names
  the clusters the harness knows);
- a unary call that succeeds gets ``proxy_on_grpc_receive`` with its one message and no
  close; one that fails gets only ``proxy_on_grpc_close(status)``, the server's status and
  message readable with ``proxy_get_status`` (Envoy appends its response code details:
  ``"message{via_upstream}"``, or ``"via_upstream"`` alone).  Past ``timeout_ms`` it fails
  with ``TIMEOUT_STATUS`` (UNAVAILABLE, as Envoy's router times it out, not
  DEADLINE_EXCEEDED; in Envoy a server honouring the ``grpc-timeout`` Envoy sends may answer
  DEADLINE_EXCEEDED first: a race the harness always gives to the router); a reset with ``RESET_STATUS`` (not checked against Envoy: the grpcio
  server of the envoy engine cannot reset a stream);
- a stream gets initial metadata, each message, trailing metadata, then close (OK too).
  The scripted server answers once the filter half-closed (``grpc_send(end_stream)`` or
  ``proxy_grpc_close``), ``delay_ms`` later; a stream has no deadline;
- ``proxy_grpc_cancel`` (and ``proxy_grpc_close`` on a call) drops what is still to come;
  a token that is not open answers NotFound; ``proxy_grpc_send`` on a call's token
  BadArgument.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from meshwasm.harness import abi
from meshwasm.harness.headers import HeaderMap
from meshwasm.replay.model import GrpcAnswer, GrpcScripts

if TYPE_CHECKING:
    from meshwasm.harness.host import Host

#: (status, message) of a unary call still unanswered at its timeout_ms, as Envoy reports it
TIMEOUT_STATUS = (14, "upstream request timeout{response_timeout}")  # UNAVAILABLE
#: ... of a call or stream whose server reset it
RESET_STATUS = (14, "upstream connect error or disconnect/reset before headers. reset "
                "reason: connection termination")  # UNAVAILABLE
#: ... of a method the traffic file does not script (what a real server answers)
UNKNOWN_METHOD = GrpcAnswer(status=12, message="Method not found")
#: Envoy's response code details for a status the server sent: proxy_get_status reads the
#: server's grpc-message with them appended in braces, or them alone for an empty message
VIA_UPSTREAM = "via_upstream"


def server_status(answer: GrpcAnswer) -> tuple[int, str]:
    """(code, message) of a close the server sent, as Envoy 1.40 reports it."""
    message = f"{answer.message}{{{VIA_UPSTREAM}}}" if answer.message else VIA_UPSTREAM
    return answer.status, message

# Event kinds, each one callback.
INITIAL_METADATA = "proxy_on_grpc_receive_initial_metadata"
MESSAGE = "proxy_on_grpc_receive"
TRAILING_METADATA = "proxy_on_grpc_receive_trailing_metadata"
CLOSE = "proxy_on_grpc_close"


def merged_grpc(defaults: GrpcScripts, override: GrpcScripts) -> GrpcScripts:
    """``defaults`` with a request's own ``grpc`` methods over them."""
    if not override:
        return defaults
    merged = {cluster: dict(methods) for cluster, methods in defaults.items()}
    for cluster, methods in override.items():
        merged.setdefault(cluster, {}).update(methods)
    return merged


@dataclass
class GrpcEvent:
    """One gRPC callback the event loop delivers once due (``harness/event_loop.py``)."""

    context_id: int  # the root context
    token: int
    kind: str
    due_ms: int
    metadata: HeaderMap = field(default_factory=HeaderMap)
    message: bytes = b""
    status: tuple[int, str] = (0, "")

    @property
    def value(self) -> int:
        """The callback's third argument: a count, a size or the status code."""
        if self.kind == MESSAGE:
            return len(self.message)
        if self.kind == CLOSE:
            return self.status[0]
        return len(self.metadata)


@dataclass
class _Open:
    """A call or stream not over yet."""

    answer: GrpcAnswer
    unary: bool
    half_closed: bool = False


def _metadata(pairs: list[tuple[str, str]]) -> HeaderMap:
    return HeaderMap([(name.encode(), value.encode()) for name, value in pairs])


class GrpcClient:
    """One VM's gRPC calls: ``Host.grpc``."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._tokens = itertools.count(1)
        self._open: dict[int, _Open] = {}
        #: the status proxy_get_status reads (the last close delivered)
        self.status: tuple[int, str] = (0, "")
        #: the event being delivered: its metadata and message are readable meanwhile
        self.delivering: GrpcEvent | None = None

    def _token(self, odd: bool) -> int:
        token = next(self._tokens)
        if token % 2 != odd:
            token = next(self._tokens)
        return token

    def _script(self, upstream: bytes, service: bytes, method: bytes) -> GrpcAnswer | None:
        methods = self.host.proxy.grpc.get(upstream.decode(errors="replace"))
        if methods is None:
            return None
        name = f"{service.decode(errors='replace')}/{method.decode(errors='replace')}"
        return methods.get(name, UNKNOWN_METHOD)

    def call(self, upstream: bytes, service: bytes, method: bytes, message: bytes,
             timeout_ms: int) -> tuple[int, int]:
        """``proxy_grpc_call``: (status, token); the answer is scheduled at once."""
        answer = self._script(upstream, service, method)
        if answer is None:
            return abi.PARSE_FAILURE, 0
        token = self._token(odd=True)
        self._open[token] = _Open(answer, unary=True, half_closed=True)
        self._schedule_unary(token, answer, timeout_ms)
        return abi.OK, token

    def stream(self, upstream: bytes, service: bytes, method: bytes) -> tuple[int, int]:
        """``proxy_grpc_stream``: (status, token); the server answers once half-closed."""
        answer = self._script(upstream, service, method)
        if answer is None:
            return abi.PARSE_FAILURE, 0
        token = self._token(odd=False)
        self._open[token] = _Open(answer, unary=False)
        return abi.OK, token

    def send(self, token: int, end_stream: bool) -> int:
        """``proxy_grpc_send`` (the scripted server does not read what is sent)."""
        call = self._open.get(token)
        if call is None:
            return abi.NOT_FOUND
        if call.unary:
            return abi.BAD_ARGUMENT
        if end_stream:
            self._half_close(token, call)
        return abi.OK

    def close(self, token: int) -> int:
        """``proxy_grpc_close``: a stream half-closes; a call is cancelled."""
        call = self._open.get(token)
        if call is None:
            return abi.NOT_FOUND
        if call.unary:
            return self.cancel(token)
        self._half_close(token, call)
        return abi.OK

    def cancel(self, token: int) -> int:
        """``proxy_grpc_cancel``: nothing more comes for ``token``."""
        if self._open.pop(token, None) is None:
            return abi.NOT_FOUND
        self.host.proxy.loop.cancel(
            self.host, lambda event: isinstance(event, GrpcEvent) and event.token == token)
        return abi.OK

    def delivered(self, event: GrpcEvent) -> None:
        """``event`` is about to be delivered: a close (or a call's message) ends it."""
        if event.kind == CLOSE or (event.kind == MESSAGE and self._open.get(event.token)
                                   and self._open[event.token].unary):
            self._open.pop(event.token, None)
        if event.kind == CLOSE:
            self.status = event.status

    def received_metadata(self, map_type: int) -> HeaderMap | None:
        """The metadata map ``map_type`` while its callback runs (None otherwise)."""
        event = self.delivering
        wanted = INITIAL_METADATA if map_type == abi.GRPC_RECEIVE_INITIAL_METADATA \
            else TRAILING_METADATA
        return event.metadata if event is not None and event.kind == wanted else None

    def received_message(self) -> bytes | None:
        """The message while ``proxy_on_grpc_receive`` runs (None otherwise)."""
        event = self.delivering
        return event.message if event is not None and event.kind == MESSAGE else None

    # -- scheduling ----------------------------------------------------------------------
    def _event(self, token: int, kind: str, due_ms: int, **values: object) -> None:
        self.host.proxy.loop.schedule(
            self.host, GrpcEvent(self.host.root.id, token, kind, due_ms, **values))  # type: ignore[arg-type]

    def _schedule_unary(self, token: int, answer: GrpcAnswer, timeout_ms: int) -> None:
        now = self.host.proxy.clock.now_ms
        if timeout_ms and answer.delay_ms >= timeout_ms:
            self._event(token, CLOSE, now + timeout_ms, status=TIMEOUT_STATUS)
        elif answer.reset:
            self._event(token, CLOSE, now + answer.delay_ms, status=RESET_STATUS)
        elif answer.status != 0 or not answer.messages:
            status = server_status(answer) if answer.status else \
                (13, "No response message")  # OK without a message: Envoy's Internal
            self._event(token, CLOSE, now + answer.delay_ms, status=status)
        else:
            self._event(token, MESSAGE, now + answer.delay_ms, message=answer.messages[0])

    def _half_close(self, token: int, call: _Open) -> None:
        if call.half_closed:
            return
        call.half_closed = True
        answer, due = call.answer, self.host.proxy.clock.now_ms + call.answer.delay_ms
        if answer.reset:
            self._event(token, CLOSE, due, status=RESET_STATUS)
            return
        self._event(token, INITIAL_METADATA, due, metadata=_metadata(answer.initial_metadata))
        for message in answer.messages:
            self._event(token, MESSAGE, due, message=message)
        self._event(token, TRAILING_METADATA, due,
                    metadata=_metadata(answer.trailing_metadata))
        self._event(token, CLOSE, due, status=server_status(answer))

"""A scripted gRPC server on loopback (grpcio): what a traffic file's ``grpc`` cluster answers
when the envoy engine replays it.

Every method is served as a bidirectional stream of raw bytes (no protobuf: the traffic file
gives the response messages' bytes), which is what a unary call is on the wire too.  The
server reads the client's messages until it half-closes, waits the answer's ``delay_ms``
(at most ``MAX_DELAY_S``), then sends the initial metadata, the messages, the trailing
metadata and the status.  A method the script does not name answers UNIMPLEMENTED, as a real
server does.  ``reset`` cannot be scripted here (grpcio offers no stream reset): the replay
refuses such a file before starting Envoy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass

import grpc

from meshwasm.replay.model import GrpcAnswer

MAX_DELAY_S = 10.0
_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


@dataclass(frozen=True)
class ReceivedCall:
    """What the server received for one call: its method, metadata and messages."""

    method: str  # "package.Service/Method"
    metadata: tuple[tuple[str, str], ...]
    messages: tuple[bytes, ...]


class ScriptedGrpcServer:
    """``respond_with(methods)`` sets the script; ``received`` lists the calls served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._methods: dict[str, GrpcAnswer] = {}
        self.received: list[ReceivedCall] = []
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                                   handlers=[_Handler(self._serve)])
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def respond_with(self, methods: dict[str, GrpcAnswer]) -> None:
        with self._lock:
            self._methods = dict(methods)

    def _serve(self, method: str, requests: Iterator[bytes],
               context: grpc.ServicerContext) -> Iterator[bytes]:
        with self._lock:
            answer = self._methods.get(method)
        messages = tuple(requests)  # until the client half-closes
        metadata = tuple((key, value if isinstance(value, str) else value.decode("latin-1"))
                         for key, value in context.invocation_metadata())
        with self._lock:
            self.received.append(ReceivedCall(method, metadata, messages))
        if answer is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found")
            return  # (abort raises)
        delay = min(answer.delay_ms / 1000, MAX_DELAY_S)
        deadline = time.monotonic() + delay
        while context.is_active() and time.monotonic() < deadline:
            time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
        if not context.is_active():
            return
        if answer.initial_metadata:
            context.send_initial_metadata(tuple(answer.initial_metadata))
        yield from answer.messages
        context.set_trailing_metadata(tuple(answer.trailing_metadata))
        context.set_code(_STATUS_CODES.get(answer.status, grpc.StatusCode.UNKNOWN))
        if answer.message:
            context.set_details(answer.message)

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=None).wait(5)


class _Handler(grpc.GenericRpcHandler):
    """Every method, as a stream of raw bytes both ways."""

    def __init__(self, serve: Callable[[str, Iterator[bytes], grpc.ServicerContext],
                                       Iterator[bytes]]) -> None:
        self._serve = serve

    def service(self, handler_call_details: grpc.HandlerCallDetails
                ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method.lstrip("/")  # type: ignore[attr-defined]
        serve = self._serve
        return grpc.stream_stream_rpc_method_handler(
            lambda requests, context: serve(method, requests, context))


@contextmanager
def run_grpc_upstream() -> Iterator[ScriptedGrpcServer]:
    """A started ``ScriptedGrpcServer``, always stopped afterwards."""
    server = ScriptedGrpcServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()

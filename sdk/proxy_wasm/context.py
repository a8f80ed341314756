"""The classes a filter author subclasses: ``RootContext`` (one per plugin per worker VM) and
``HttpContext`` (one per HTTP stream).

Override only the callbacks you need; the defaults let traffic pass.  A callback runs on the
proxy's worker thread: it must not block, and it sees only its own stream.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `from typing`: that would freeze typing into every module

from . import _hostcalls
from .grpc import GrpcCalls
from .headers import REQUEST_HEADERS, REQUEST_TRAILERS, RESPONSE_HEADERS, RESPONSE_TRAILERS
from .headers import HeaderMap
from .types import Action, BufferType, MapType, StreamType

if TYPE_CHECKING:
    from collections.abc import Iterable


#: the largest gRPC status Envoy's proxy-wasm host passes on (UNAUTHENTICATED); above it, and
#: below 0, the reply's gRPC status comes from its HTTP status (measured with Envoy 1.40)
GRPC_STATUS_MAX = 16

#: http_call token -> the context that made the call (see ``_dispatch.on_http_call_response``)
CALLOUTS: dict[int, int] = {}

#: Stream callbacks a stream can skip (``HttpContext.skip_callbacks``) and the runtime answers
#: without entering Python when a filter class keeps the default.  Bit i stands for
#: SKIPPABLE[i]; the C runtime (glue/abi_headermap.c) lists them in the same order.
SKIPPABLE = ("on_request_body", "on_request_trailers", "on_response_body",
             "on_response_trailers", "on_log", "on_done", "on_request_headers",
             "on_response_headers")
SKIP_BITS = {name: 1 << bit for bit, name in enumerate(SKIPPABLE)}
SKIP_ALL = (1 << len(SKIPPABLE)) - 1


class _Context(GrpcCalls):
    """What root and stream contexts share: outgoing HTTP and gRPC calls."""

    context_id: int

    def http_call(self, cluster: str, headers: Iterable[tuple[str, str]], body: bytes = b"",
                  trailers: Iterable[tuple[str, str]] = (), timeout_ms: int = 5000) -> int:
        """Send a request to ``cluster`` (an Envoy cluster name); returns the call's token.

        ``headers`` must include ``:method``, ``:path`` and ``:authority``.  The answer comes
        to this context's ``on_http_call_response``.  From a stream callback, return
        ``Action.PAUSE`` and call ``resume_request()`` once the answer is in.
        """
        token = _hostcalls.abi.http_call(cluster, list(headers), body, list(trailers),
                                         timeout_ms)
        # Envoy answers every call on the root context; the dispatcher routes it back here.
        CALLOUTS[token] = self.context_id
        return token

    def on_http_call_response(self, token: int, num_headers: int, body_size: int,
                              num_trailers: int) -> None:
        """The answer to ``http_call`` ``token``; read it with ``http_call_response_headers`` /
        ``http_call_response_body``.  A call that failed still gets an answer, made by Envoy:
        503 when the upstream reset or could not be reached, 504 when ``timeout_ms`` passed."""

    @staticmethod
    def http_call_response_headers() -> list[tuple[str, str]]:
        """Legal only inside ``on_http_call_response``."""
        return _hostcalls.abi.get_headers(int(MapType.HTTP_CALL_RESPONSE_HEADERS))

    @staticmethod
    def http_call_response_body(body_size: int) -> bytes:
        """Legal only inside ``on_http_call_response``."""
        if body_size == 0:
            return b""
        return _hostcalls.abi.get_buffer(int(BufferType.HTTP_CALL_RESPONSE_BODY), 0,
                                         body_size) or b""


class RootContext(_Context):
    """Plugin-wide state: configuration, timers.  One instance per plugin in each worker VM."""

    def __init__(self, context_id: int) -> None:
        self.context_id = context_id
        self.configuration: bytes = b""
        """The plugin configuration, set before ``on_configure`` is called."""

    def on_vm_start(self, vm_configuration: bytes) -> bool:
        """Called once when the VM starts.  Return False to fail the VM."""
        return True

    def on_configure(self, configuration: bytes) -> bool:
        """Called with the plugin configuration (also on every reconfiguration).

        Return False to reject it: Envoy then refuses the configuration.
        """
        return True

    def on_tick(self) -> None:
        """Called every tick period once ``set_tick_period_ms`` was called."""

    def on_queue_ready(self, queue_id: int) -> None:
        """A message arrived on a queue this VM registered (see ``proxy_wasm.queues``)."""

    def on_done(self) -> bool:
        """The proxy is stopping this plugin (a configuration change removed it, or the VM
        is shutting down).  Return False to finish work first (flush a queue, a last
        ``http_call``), then call ``done()``; True (the default) stops it now."""
        return True

    @staticmethod
    def done() -> None:
        """The plugin finished what ``on_done`` returned False for: the proxy may delete it.
        Raises ``HostCallError`` (NOT_FOUND) when no stop was pending."""
        _hostcalls.abi.done()

    def set_tick_period_ms(self, period_ms: int) -> None:
        """Ask for ``on_tick`` every ``period_ms`` milliseconds (0 stops ticks)."""
        _hostcalls.abi.set_tick_period(period_ms)


class _PythonStreamBase:
    """HttpContext's fields and ``skip_callbacks`` in Python, used outside a compiled module.
    Inside one, ``_proxy_wasm_abi.StreamBase`` has them in C, so the runtime creates streams
    and checks skipped callbacks without entering Python.

    (Documented in the API reference, being where ``skip_callbacks`` is: @public)"""

    _skipped = 0

    def __init__(self, context_id: int, root: RootContext) -> None:
        self.context_id = context_id
        self.root = root

    def skip_callbacks(self, *names: str) -> None:
        """This stream needs none of the named callbacks any more (no names: none of
        ``SKIPPABLE``); the proxy's calls then answer Continue without running Python.

        Call it once a request's outcome is decided (e.g. at the end of
        ``on_request_headers`` when nothing is left to do): every callback entered costs an
        interpreter entry.  ``on_delete`` and ``on_http_call_response`` still run.
        """
        bits = SKIP_ALL if not names else 0
        for name in names:
            bit = SKIP_BITS.get(name) if isinstance(name, str) else None
            if bit is None:
                raise ValueError(
                    f"skip_callbacks(): {name!r} is not a stream callback that can be skipped")
            bits |= bit
        self._skipped |= bits


if TYPE_CHECKING:
    _StreamBase = _PythonStreamBase
else:
    try:
        from _proxy_wasm_abi import StreamBase as _StreamBase
    except ImportError:
        _StreamBase = _PythonStreamBase


if TYPE_CHECKING:
    from typing import Generic as _GenericOverRoot

    from typing_extensions import TypeVar

    #: the RootContext class of an HttpContext (``HttpContext[MyRoot]``; bare: RootContext)
    RootT = TypeVar("RootT", bound=RootContext, default=RootContext, covariant=True)
else:
    class _GenericOverRoot:
        """Stands for ``typing.Generic`` at run time, where ``typing`` is not imported (it
        would be frozen into every module): ``HttpContext`` derives from plain ``object``."""

        def __class_getitem__(cls, root_type: object) -> type:
            return object

    RootT = RootContext  # the type variable's bound stands for it (what the API reference shows)


class HttpContext(_StreamBase, _Context, _GenericOverRoot[RootT]):
    """One HTTP stream.  Created by the proxy for each request (``HttpContext(context_id,
    root)``; ``root`` is its plugin).  ``skip_callbacks()`` tells the proxy which later
    callbacks this stream no longer needs (see ``_PythonStreamBase.skip_callbacks``).

    Generic over its plugin's class, so ``self.root`` has that type for type checkers::

        class Limiter(HttpContext[LimiterRoot]):
            def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
                budget = self.root.budget  # LimiterRoot's attribute, type-checked

    ``HttpContext`` alone means ``HttpContext[RootContext]``.  At run time the subscript is
    ``HttpContext`` itself; pass the same root class to ``register(..., root=LimiterRoot)``.
    """

    context_id: int
    root: RootT

    if not TYPE_CHECKING:
        def __class_getitem__(cls, root_type: object) -> type:
            return cls
    request_headers: HeaderMap = REQUEST_HEADERS
    """Request headers; legal from ``on_request_headers`` on."""
    request_trailers: HeaderMap = REQUEST_TRAILERS
    response_headers: HeaderMap = RESPONSE_HEADERS
    """Response headers; legal from ``on_response_headers`` on."""
    response_trailers: HeaderMap = RESPONSE_TRAILERS

    # ---- callbacks ------------------------------------------------------------------------
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        return Action.CONTINUE

    def on_request_body(self, body_size: int, end_of_stream: bool) -> Action:
        return Action.CONTINUE

    def on_request_trailers(self, num_trailers: int) -> Action:
        return Action.CONTINUE

    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        return Action.CONTINUE

    def on_response_body(self, body_size: int, end_of_stream: bool) -> Action:
        return Action.CONTINUE

    def on_response_trailers(self, num_trailers: int) -> Action:
        return Action.CONTINUE

    def on_log(self) -> None:
        """Called after the stream completed, for access logging."""

    def on_done(self) -> None:
        """Called when the proxy is finished with the stream."""

    def on_delete(self) -> None:
        """The last call for this stream."""

    # ---- calls ----------------------------------------------------------------------------
    def send_local_response(self, status: int, body: bytes | str = b"",
                            headers: Iterable[tuple[str, str]] = (),
                            grpc_status: int | None = None, details: str = "") -> None:
        """Answer the client directly instead of forwarding the request.

        Legal in request and response callbacks; return ``Action.PAUSE`` afterwards.
        ``details`` ends up in Envoy's ``%RESPONSE_CODE_DETAILS%``.  To a gRPC request the
        reply carries ``grpc-status: grpc_status``; Envoy's proxy-wasm host honours only the
        known codes (0..16): for None or any other number, Envoy derives the gRPC status
        from the HTTP status (403 gives 7, 200 gives 2), as it does here.
        """
        if grpc_status is None or not 0 <= grpc_status <= GRPC_STATUS_MAX:
            grpc_status = -1  # none: Envoy derives it from the HTTP status
        _hostcalls.abi.send_local_response(status, details, body, list(headers), grpc_status)

    def make_effective(self) -> bool:
        """Make this stream the one host calls act on until the current callback returns;
        False when the proxy no longer has it (the client left).

        For code running in another context's callback — the root's ``on_tick``,
        ``on_queue_ready``, or an answer delivered to the root — that resumes, answers or
        reads this stream.  (Answers to this stream's own ``http_call``/``grpc_call`` are
        routed to it already.)"""
        try:
            _hostcalls.abi.set_effective_context(self.context_id)
        except _hostcalls.HostCallError:
            return False
        return True

    def close_stream(self) -> None:
        """Reset this stream: the client (and the upstream, if reached) see it reset, with
        no response.  Prefer ``send_local_response`` to answer with a status."""
        _hostcalls.abi.close_stream(int(StreamType.REQUEST))

    def resume_request(self) -> None:
        """Continue a request paused by an earlier callback."""
        _hostcalls.abi.continue_stream(int(StreamType.REQUEST))

    def resume_response(self) -> None:
        """Continue a response paused by an earlier callback."""
        _hostcalls.abi.continue_stream(int(StreamType.RESPONSE))

    def get_request_body(self, start: int = 0, length: int = 0xFFFFFFFF) -> bytes:
        """The buffered request body (legal in ``on_request_body``)."""
        return _hostcalls.abi.get_buffer(int(BufferType.REQUEST_BODY), start, length) or b""

    def get_response_body(self, start: int = 0, length: int = 0xFFFFFFFF) -> bytes:
        """The buffered response body (legal in ``on_response_body``)."""
        return _hostcalls.abi.get_buffer(int(BufferType.RESPONSE_BODY), start, length) or b""

    def set_request_body(self, data: bytes, start: int = 0, length: int | None = None) -> None:
        """Replace ``length`` bytes of the buffered request body from ``start`` with ``data``
        (all of it by default).  Legal in ``on_request_body``."""
        _hostcalls.abi.set_buffer(int(BufferType.REQUEST_BODY), start,
                                  0xFFFFFFFF if length is None else length, data)

    def set_response_body(self, data: bytes, start: int = 0, length: int | None = None) -> None:
        """Like ``set_request_body``, for the response (legal in ``on_response_body``)."""
        _hostcalls.abi.set_buffer(int(BufferType.RESPONSE_BODY), start,
                                  0xFFFFFFFF if length is None else length, data)

    def get_property(self, *path: str) -> bytes | None:
        """A proxy attribute such as ``get_property("request", "path")``; None when absent."""
        return _hostcalls.abi.get_property("\0".join(path))

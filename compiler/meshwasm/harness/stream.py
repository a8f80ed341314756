"""The plugin lifecycle and the per-request state machine, as Envoy 1.40 drives them.

Start: ``_initialize`` (+ ``main``) or ``_start``; ``proxy_on_context_create(root, 0)``;
``proxy_on_vm_start``; ``proxy_on_configure``.  Per request, on a new stream context:
``on_context_create`` -> ``on_request_headers`` -> ``on_request_body`` ->
``on_request_trailers`` -> (upstream) -> ``on_response_headers`` -> ``on_response_body`` ->
``on_response_trailers`` -> ``on_log`` -> ``on_done`` -> ``on_delete``.

Envoy's behaviour copied here (pinned against a real Envoy by runtime_tests/
test_envoy_local_reply.py):
- a body arrives as its data (end_of_stream=0) then an empty end (end_of_stream=1), as the
  HTTP/1 codec delivers it; with trailers, the data (end_of_stream=0, none if empty) then
  the trailers callback, which ends the stream; a filter holding data
  (StopIterationAndBuffer) sees it again, with what came after, in the next call; a local
  reply's body comes in one call (eos=1);
- a local reply asked for in the request phase is sent when the callback returns, *through
  the filter chain*: the filter's own ``on_response_headers``/``on_response_body`` see it;
  the request body is then never delivered, and if the request was not complete the
  connection closes (``connection: close``);
- one asked for in ``on_response_headers`` replaces the response whole and is sent directly
  (no more callbacks); one asked for after the response headers went out resets the stream;
- after ``proxy_send_local_response`` the callback's return value is ignored (stop);
- access logging (``on_log``) runs before the filter is destroyed (``on_done``, ``on_delete``);
- a trap fails the VM: the stream gets an empty 503 and no more callbacks; every later
  request gets a 503 too (``FAIL_CLOSED``), or passes through untouched (``FAIL_OPEN``), or
  (``FAIL_RELOAD``) is served by a new VM started from the module: the failed VM's module
  globals, root context and ticks are gone, shared data and queues (the proxy's) remain;
- a paused stream waits on the proxy's event loop (``harness/event_loop.py``): the clock jumps to
  the next tick or delayed http_call answer of any worker VM, fires it, and so on until the
  stream goes on (``proxy_continue_stream`` or a local reply, e.g. from ``on_tick`` after
  ``proxy_set_effective_context``) or Envoy's stream idle timeout (5 minutes, Envoy's
  default) has passed with no event resuming it: then 504 "stream timeout" (the client sent
  the whole request by then, so the connection stays open);
- a local reply to a gRPC request (``content-type: application/grpc...``) is a trailers-only
  gRPC response (see ``envoy_http.local_reply_headers``);
- a verdict's ``elapsed_ms`` is the virtual time from the request to the end of the response;
- events Envoy posts to a worker's event loop run once the callback in progress returned,
  in this order: answers to ``proxy_http_call`` (``proxy_on_http_call_response`` on the
  root context, whichever context called: see ``host.py``), then
  ``proxy_on_queue_ready`` on the root context that registered the queue (in whichever
  worker VM that is).  A paused stream resumed from there (``proxy_continue_stream``) goes on
  as if the callback had answered Continue; a local reply sent from there is sent as one
  sent from the paused callback.

A ``Verdict`` with status 0 means the client saw a reset, no response.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from meshwasm.failure_policy import FAIL_OPEN, FAIL_RELOAD
from meshwasm.harness import abi
from meshwasm.harness.context import Context, LocalReply
from meshwasm.harness.envoy_http import (
    RequestIds, client_response_headers, downstream_request_headers, is_grpc_request,
    local_reply_headers,
    upstream_request, upstream_response_headers,
)
from meshwasm.harness.errors import GuestTrap, ModuleError
from meshwasm.harness.headers import NO_INLINE, RESPONSE_TRAILERS_INLINE, HeaderMap
from meshwasm.harness.grpc import GrpcEvent
from meshwasm.harness.host import Host, PendingCall
from meshwasm.replay.model import Exchange, HttpRequest, LogLine, Verdict

_CONTINUE_AND_END_STREAM = 2
_PAUSE = 1
#: Envoy's HttpConnectionManager stream_idle_timeout default (5 minutes)
STREAM_IDLE_TIMEOUT_MS = 300_000
_IDLE_TIMEOUT = LocalReply(504, b"stream timeout", [], -1, b"stream_idle_timeout")
#: FAIL_RELOAD's back-off (Envoy's ReloadConfig default: base 1 s; its back-offs grow to 10
#: times the base).  Envoy's is jittered and grows with each reload (docs/harness-semantics.md
#: has what Envoy 1.40 did); the harness waits the upper bound of a jittered exponential
#: back-off, min((2^n - 1) s, 10 s) before the n-th reload.
RELOAD_BACKOFF_BASE_MS = 1000
RELOAD_BACKOFF_MAX_MS = 10_000
#: how long (virtual time) a stopping plugin may take to call proxy_done (the harness's bound)
STOP_GRACE_MS = 60_000


class Guest(Protocol):
    """What the driver needs of an engine: the exported callbacks and the start code."""

    callbacks: Mapping[str, Callable[..., int | None]]

    def start(self) -> None: ...


class _VmFailed(Exception):
    pass


class _Ended(Exception):
    """The response is final (sent, reset or failed); carries it.  ``direct``: a local reply
    sent straight to the client, past every encoder filter (one asked for after the response
    had started); ``split``: the body arrives as data then an empty end (an upstream's)."""

    def __init__(self, status: int, headers: HeaderMap | None, body: bytes,
                 trailers: HeaderMap | None = None, direct: bool = False,
                 split: bool = False) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.trailers = trailers
        self.direct, self.split = direct, split


_RESET = (0, None, b"")


@dataclass
class HopResponse:
    """What the rest of a filter chain answered one plugin (``harness/chain.py``): the next
    plugin's response, or the upstream's.  ``status`` 0: the stream was reset.  ``direct``:
    sent to the client past the earlier plugins' encoders (a local reply from a response
    callback); ``split``: an upstream body (data, then an empty end), not a local reply's."""

    status: int
    headers: HeaderMap
    body: bytes
    trailers: HeaderMap | None = None
    direct: bool = False
    split: bool = True
    close_connection: bool = False
    details: str = "via_upstream"


#: (request headers, body, trailers) -> what the rest of the chain answered
NextHop = Callable[[HeaderMap, bytes, "HeaderMap | None"], HopResponse]


@dataclass
class Served:
    """One plugin's part of a request, before its access log ran (``PluginRunner.serve``)."""

    ended: _Ended
    context: object  # the stream's Context (typed loosely: finish() takes it back)
    notes: list[str] = field(default_factory=list)
    started: bool = False  # the plugin's callbacks ran (a failed VM's do not)

    def response(self) -> HopResponse:
        """The response as this plugin passes it to the plugin before it."""
        ended = self.ended
        headers = ended.headers if ended.headers is not None or not ended.status \
            else _status_only(ended.status)
        context = self.context
        return HopResponse(ended.status, headers or HeaderMap(), ended.body, ended.trailers,
                           direct=ended.direct, split=ended.split,
                           close_connection=bool(getattr(context, "close_connection", False)),
                           details=str(getattr(context, "response_details", "") or ""))


class PluginRunner:
    """One plugin in one VM: ``start()`` once, then ``run(exchange)`` per request."""

    def __init__(self, host: Host, guest: Guest, label: str = "module",
                 new_guest: Callable[[Host], Guest] | None = None) -> None:
        self.host = host
        self.guest = guest
        self.label = label
        self.cb = guest.callbacks
        self._ids = RequestIds()
        #: Envoy keeps this worker's upstream connection open after a complete exchange; a
        #: request whose headers went on is written to it at once (see ``_body_rejected``)
        self._upstream_pooled = False
        #: makes the guest of a replacement VM (FAIL_RELOAD); None: this VM is never replaced
        self._new_guest = new_guest
        self.reloads = 0  # VMs started to replace a failed one
        self._next_hop: NextHop | None = None  # the rest of the chain, while serving in one
        host.proxy.loop.add(self)

    # -- calls into the module -------------------------------------------------------------
    def _call(self, context: Context, name: str, *args: int) -> int | None:
        function = self.cb.get(name)
        if function is None:
            return None
        self.host.enter(context)
        try:
            result = function(*args)
        except GuestTrap as trap:
            self.host.failed = f"Function: {name} failed: {trap}"
            self.host.failed_at_ms = self.host.proxy.clock.now_ms
            context.notes.append(self.host.failed)
            raise _VmFailed from None
        self.host.proxy.loop.run_posted(self.host)
        return result

    def call_answer(self, call: PendingCall | GrpcEvent) -> None:
        """An http_call answer or gRPC callback, when the event loop runs it (a trap fails
        this VM)."""
        try:
            self._call_response(call)
        except _VmFailed:
            pass  # recorded in host.failed; a stream paused on this VM stays stalled

    def _call_response(self, call: PendingCall | GrpcEvent) -> None:
        context = self.host.contexts.get(call.context_id)
        if context is None or self.host.failed:
            return
        if isinstance(call, GrpcEvent):
            self._grpc_event(context, call)
            return
        answer = call.response
        self.host.http_call_response = answer
        try:
            self._call(context, "proxy_on_http_call_response", context.id, call.token,
                       len(answer.headers), len(answer.body), len(answer.trailers))
        finally:
            self.host.http_call_response = None

    def _grpc_event(self, context: Context, event: GrpcEvent) -> None:
        """One gRPC callback on the root context (its data readable while it runs)."""
        grpc = self.host.grpc
        grpc.delivered(event)
        grpc.delivering = event
        try:
            self._call(context, event.kind, context.id, event.token, event.value)
        finally:
            grpc.delivering = None

    def queue_ready(self, context_id: int, token: int) -> None:
        """``proxy_on_queue_ready`` on this VM's root context (a trap fails this VM only)."""
        if self.host.failed or context_id not in self.host.contexts:
            return
        try:
            self._call(self.host.contexts[context_id], "proxy_on_queue_ready", context_id, token)
        except _VmFailed:
            pass  # recorded in host.failed; later requests of this VM see it

    def tick(self) -> None:
        """``proxy_on_tick`` on the root context, at the virtual time the driver set."""
        if self.host.failed:
            return
        root = self.host.root
        try:
            self._call(root, "proxy_on_tick", root.id)
        except _VmFailed:
            pass

    def stop(self, grace_ms: int = STOP_GRACE_MS) -> None:
        """Stop the plugin as Envoy does when it is removed: ``proxy_on_done`` on the root
        context; when that answers 0 (not yet), the timeline keeps firing (ticks, answers)
        until the filter calls ``proxy_done`` or ``grace_ms`` of virtual time passed (the
        harness's own bound); then ``proxy_on_delete``.  A failed VM is not called."""
        host, root = self.host, self.host.root
        if host.failed:
            return
        try:
            if self._call(root, "proxy_on_done", root.id) == 0:
                host.pending_done.add(root.id)
                host.proxy.loop.run_until(lambda: root.id not in host.pending_done,
                                              host.proxy.clock.now_ms + grace_ms)
            self._call(root, "proxy_on_delete", root.id)
        except _VmFailed:
            pass  # recorded in host.failed

    def start(self) -> list[LogLine]:
        """Start the VM and configure the plugin; returns the root context's log lines.

        Raises ``ModuleError`` when Envoy would refuse the plugin.
        """
        host, root = self.host, self.host.root
        host.enter(root)
        try:
            try:
                self.guest.start()
            except GuestTrap as trap:
                raise _VmFailed(f"start code failed: {trap}") from None
            root.plugin_config_visible = True
            self._call(root, "proxy_on_context_create", root.id, 0)
            root.plugin_config_visible = False
            if self._call(root, "proxy_on_vm_start", root.id, len(host.vm_config)) == 0:
                raise self._refused("proxy_on_vm_start returned false: Envoy fails the VM")
            root.plugin_config_visible = True
            if self._call(root, "proxy_on_configure", root.id, len(host.plugin_config)) == 0:
                raise self._refused("proxy_on_configure returned false: Envoy rejects the "
                                    "plugin configuration")
        except _VmFailed as failure:
            raise self._refused(str(failure) or host.failed or "the VM failed") from None
        finally:
            root.plugin_config_visible = False
        return root.logs

    def _reload_after_backoff(self) -> str:
        """FAIL_RELOAD: a new VM once the back-off since the failure has passed; until then
        requests are failed closed, as Envoy does."""
        backoff = min((2 ** (self.reloads + 1) - 1) * RELOAD_BACKOFF_BASE_MS,
                      RELOAD_BACKOFF_MAX_MS)
        waited = self.host.proxy.clock.now_ms - self.host.failed_at_ms
        if waited < backoff:
            return (f"FAIL_RELOAD: the VM failed {waited} ms ago; Envoy waits up to "
                    f"{backoff} ms (its reload back-off) before starting a new one: 503")
        return self._reload()

    def _reload(self) -> str:
        """FAIL_RELOAD: replace the failed VM by a new one on the same proxy (shared data and
        queues stay); returns a note for the request it serves.  A VM that does not start
        leaves the old failure in place (Envoy then fails closed)."""
        failed, failed_guest = self.host, self.guest
        host = Host(failed.plugin_config, failed.options, failed.proxy)
        try:
            self.guest = self._new_guest(host)  # type: ignore[misc]
            self.host, self.cb = host, self.guest.callbacks
            host.proxy.loop.bind(host, self)
            self.start()
        except ModuleError as error:
            self.host, self.guest, self.cb = failed, failed_guest, failed_guest.callbacks
            failed.failed_at_ms = failed.proxy.clock.now_ms  # the next try waits a back-off
            self.reloads += 1
            return f"FAIL_RELOAD: the new VM did not start: {error}"
        self.reloads += 1
        return (f"the VM had failed ({failed.failed}); FAIL_RELOAD started a new one "
                f"(reload {self.reloads}): per-VM state is lost, shared data is kept")

    def _refused(self, why: str) -> ModuleError:
        tail = "\n".join(f"  [{line.level}] {line.message}" for line in self.host.root.logs[-20:])
        return ModuleError(f"{self.label}: {why}" + (f"\nlog:\n{tail}" if tail else ""))

    # -- one request -----------------------------------------------------------------------
    def run(self, exchange: Exchange) -> Verdict:
        """Replay one exchange and return what the client and the upstream saw."""
        started = self.host.proxy.clock.now_ms
        upstream: list[HttpRequest] = []
        served = self.serve(exchange, upstream)
        self.finish(served)
        context = served.context
        assert isinstance(context, Context)
        elapsed = self.host.proxy.clock.now_ms - started
        ended = served.ended
        headers: list[tuple[str, str]] = []
        trailers = ended.trailers
        if ended.status:
            response = ended.headers or _status_only(ended.status)
            headers = client_response_headers(response, ended.body, context.close_connection,
                                              trailers=trailers is not None)
        return Verdict(status=ended.status, headers=headers, body=ended.body, logs=context.logs,
                       upstream_request=upstream[0] if upstream else None, notes=context.notes,
                       elapsed_ms=elapsed,
                       trailers=[] if trailers is None else trailers.text_pairs(False))

    def serve(self, exchange: Exchange, upstream: list[HttpRequest],
              incoming: tuple[HeaderMap, bytes, HeaderMap | None] | None = None,
              next_hop: NextHop | None = None) -> Served:
        """This plugin's part of one exchange up to the final response, access log not yet
        run (``finish``).  Alone: the request as the client sent it, answered by the
        exchange's upstream (recorded in ``upstream``).  In a chain (``harness/chain.py``):
        ``incoming`` is what the previous plugin let through and ``next_hop`` runs the rest
        of the chain."""
        reload_note = None
        if self.host.failed and self.host.options.failure_policy == FAIL_RELOAD \
                and self._new_guest is not None:
            reload_note = self._reload_after_backoff()
        host = self.host
        context = host.new_stream(exchange.request)
        if reload_note:
            context.notes.append(reload_note)
        self._next_hop = next_hop
        started = False  # the plugin ran for this stream (so its access log runs too)
        if host.failed and host.options.failure_policy == FAIL_OPEN:
            ended = self._bypass(exchange, upstream, incoming)
        elif host.failed:
            ended = _Ended(503, None, b"")
        else:
            started = True
            try:
                self._stream(context, exchange, upstream, incoming)
                raise AssertionError("unreachable: _stream always ends")  # pragma: no cover
            except _Ended as end:
                ended = end
            except _VmFailed:
                ended = _Ended(503, None, b"")
        return Served(ended, context, context.notes, started)

    def finish(self, served: Served) -> None:
        """Access log and destruction of a served stream (Envoy runs them once the whole
        response went out, for every filter of the chain)."""
        context = served.context
        assert isinstance(context, Context)
        if served.started and not self.host.failed:
            self._finish(context)
        self.host.drop(context)

    def _bypass(self, exchange: Exchange, upstream: list[HttpRequest],
                incoming: tuple[HeaderMap, bytes, HeaderMap | None] | None = None) -> _Ended:
        """Fail-open after a VM failure: the request goes through as if the filter were absent."""
        if self._next_hop is not None and incoming is not None:
            return _from_hop(self._next_hop(*incoming))
        request, answer = exchange.request, exchange.upstream
        headers = downstream_request_headers(request, self._ids.next())
        upstream.append(upstream_request(headers, request.body, _trailers(request.trailers)))
        self._upstream_pooled = True
        return _Ended(answer.status, upstream_response_headers(answer), answer.body,
                      _trailers(answer.trailers, RESPONSE_TRAILERS_INLINE))

    def _stream(self, context: Context, exchange: Exchange, upstream: list[HttpRequest],
                incoming: tuple[HeaderMap, bytes, HeaderMap | None] | None = None) -> None:
        host = self.host
        request = exchange.request
        self._call(context, "proxy_on_context_create", context.id, context.root_id)
        if incoming is None:
            headers = downstream_request_headers(request, self._ids.next())
            body, trailers = request.body, _trailers(request.trailers)
        else:
            headers, body, trailers = incoming
        context.final_request_headers = headers
        ends = not body and trailers is None
        context.request_headers, context.end_of_stream = headers, ends
        context.request_complete = ends
        result = self._call(context, "proxy_on_request_headers", context.id, len(headers),
                            int(ends))
        if not self._settled(context, result, abi.STREAM_REQUEST, headers_sent=False) \
                and not self._wait(context, abi.STREAM_REQUEST, headers_sent=False):
            self._stalled(context, "on_request_headers")
        context.request_headers = None
        if result == _CONTINUE_AND_END_STREAM:
            body, trailers = b"", None
        if body or trailers is not None:
            forwarded, started_ms = bytearray(), host.proxy.clock.now_ms
            try:
                if body:
                    body = self._body(context, "proxy_on_request_body", abi.STREAM_REQUEST,
                                      _chunks(body, trailers, split=True), forwarded)
                if trailers is not None:
                    self._trailers(context, "proxy_on_request_trailers", abi.STREAM_REQUEST,
                                   trailers)
            except (_Ended, _VmFailed):
                waited = host.proxy.clock.now_ms > started_ms
                if self._next_hop is None:
                    self._body_rejected(headers, bytes(forwarded), upstream, waited)
                raise
        if self._next_hop is not None:
            self._through_next_hop(context, self._next_hop(headers, body, trailers))
        upstream.append(upstream_request(headers, body, trailers))
        self._upstream_pooled = True
        answer = exchange.upstream
        context.response_status, context.response_details = answer.status, "via_upstream"
        self._encode(context, upstream_response_headers(answer), answer.body, split=True,
                     trailers=_trailers(answer.trailers, RESPONSE_TRAILERS_INLINE))

    def _through_next_hop(self, context: Context, answer: HopResponse) -> None:
        """Run what the rest of the chain answered through this plugin's response callbacks
        (a reset or a reply sent past the encoders ends the stream as it is)."""
        if not answer.status:
            raise _Ended(*_RESET)
        if answer.direct:
            raise _Ended(answer.status, answer.headers, answer.body, answer.trailers,
                         direct=True)
        context.close_connection = context.close_connection or answer.close_connection
        context.response_status, context.response_details = answer.status, answer.details
        self._encode(context, answer.headers, answer.body, split=answer.split,
                     trailers=answer.trailers)

    def _body_rejected(self, headers: HeaderMap, forwarded: bytes,
                       upstream: list[HttpRequest], waited: bool) -> None:
        """The request headers went on, then the body was refused (a local reply, a stall,
        a trap).  Envoy's router had the headers already: on a pooled upstream connection,
        or on a new one that had time to connect while the stream waited, they were written,
        so the upstream saw them (and the body data already let through) before Envoy reset
        that connection; refused at once with no pooled connection, the connect is cancelled
        and the upstream sees nothing.  Pinned by ``runtime_tests/test_engine_parity.py``."""
        if self._upstream_pooled or waited:
            upstream.append(upstream_request(headers, forwarded))
        self._upstream_pooled = False

    def _body(self, context: Context, callback: str, stream: int,
              chunks: list[tuple[bytes, bool]], passed: bytearray | None = None) -> bytes:
        """Deliver body chunks to ``callback``; returns the bytes the filter let through
        (also accumulated in ``passed`` as they go, for a body refused half-way)."""
        passed = bytearray() if passed is None else passed
        held = bytearray()
        for data, end in chunks:
            held += data
            if stream == abi.STREAM_REQUEST:
                context.request_body = held
                context.request_complete = context.request_complete or end
            else:
                context.response_body = held
            context.end_of_stream = end
            result = self._call(context, callback, context.id, len(held), int(end))
            if self._settled(context, result, stream,
                             headers_sent=stream == abi.STREAM_RESPONSE):
                passed += held
                held = bytearray()
            elif end and self._wait(context, stream, headers_sent=stream == abi.STREAM_RESPONSE):
                passed += held
                held = bytearray()
            elif end:
                self._stalled(context, callback[len("proxy_"):],
                              headers_sent=stream == abi.STREAM_RESPONSE)
            # else: the filter holds the data; it sees it again in the next call
        context.request_body = context.response_body = None
        if not chunks[-1][1]:
            passed += held  # trailers follow: once they go on, so does the held data
        return bytes(passed)

    def _trailers(self, context: Context, callback: str, stream: int,
                  trailers: HeaderMap) -> None:
        """Deliver trailers to ``callback`` (their map is readable and writable meanwhile)."""
        response = stream == abi.STREAM_RESPONSE
        if response:
            context.response_trailers = trailers
        else:
            context.request_trailers, context.request_complete = trailers, True
        context.end_of_stream = True
        result = self._call(context, callback, context.id, len(trailers))
        if not self._settled(context, result, stream, headers_sent=response) \
                and not self._wait(context, stream, headers_sent=response):
            self._stalled(context, callback[len("proxy_"):], headers_sent=response)
        context.request_trailers = context.response_trailers = None

    def _settled(self, context: Context, result: int | None, stream: int,
                 headers_sent: bool) -> bool:
        """Apply what the filter asked for in a callback; True when the stream goes on."""
        if context.reset_requested:
            raise _Ended(*_RESET)
        if context.local_reply is not None:
            reply, context.local_reply = context.local_reply, None
            if stream == abi.STREAM_REQUEST:
                self._send_through_chain(context, reply)
            if headers_sent:
                raise _Ended(*_RESET)  # too late for a reply: Envoy resets the stream
            raise _Ended(*self._reply(context, reply), direct=True)
        if not result or result == _CONTINUE_AND_END_STREAM \
                or stream in context.continue_requested:
            context.continue_requested.discard(stream)
            return True
        return False

    def _wait(self, context: Context, stream: int, headers_sent: bool) -> bool:
        """The stream is paused and nothing is posted: let virtual time pass (every worker's
        ticks and later http_call answers, in time order) until the filter resumes it (True)
        or the stream idle timeout passed (False).  A local reply or reset asked for meanwhile
        ends the stream (``_Ended``) as from the paused callback."""
        limit = self.host.proxy.clock.now_ms + STREAM_IDLE_TIMEOUT_MS
        return self.host.proxy.loop.run_until(
            lambda: self._settled(context, _PAUSE, stream, headers_sent), limit)

    def _stalled(self, context: Context, callback: str, response_started: bool = False,
                 headers_sent: bool = False) -> None:
        context.notes.append(f"the filter paused the stream in {callback} and nothing resumed "
                             "it: Envoy ends it at the stream idle timeout")
        if headers_sent:
            raise _Ended(*_RESET)
        if response_started:
            raise _Ended(*self._reply(context, _IDLE_TIMEOUT), direct=True)
        context.request_complete = True  # Envoy's codec read all of it while the stream waited
        self._send_through_chain(context, _IDLE_TIMEOUT)

    def _send_through_chain(self, context: Context, reply: LocalReply) -> None:
        if not context.request_complete:
            context.close_connection = True  # the unread request body ends the connection
        status, headers, body = self._reply(context, reply)
        context.response_details = reply.details.decode(errors="replace") or "local_reply"
        self._encode(context, headers, body, split=False)

    @staticmethod
    def _reply(context: Context, reply: LocalReply) -> tuple[int, HeaderMap, bytes]:
        """(status, headers, body) of a local reply: trailers-only to a gRPC request."""
        grpc = is_grpc_request(context.request)
        headers = local_reply_headers(reply, grpc)
        status = 200 if grpc else reply.status
        context.response_status = status
        return status, headers, b"" if grpc else reply.body

    def _encode(self, context: Context, headers: HeaderMap, body: bytes, split: bool,
                trailers: HeaderMap | None = None) -> None:
        """Run a response through the filter, then end the stream with it."""
        context.final_response_headers = headers
        ends = not body and trailers is None
        context.response_headers, context.end_of_stream = headers, ends
        result = self._call(context, "proxy_on_response_headers", context.id, len(headers),
                            int(ends))
        if not self._settled(context, result, abi.STREAM_RESPONSE, headers_sent=False) \
                and not self._wait(context, abi.STREAM_RESPONSE, headers_sent=False):
            self._stalled(context, "on_response_headers", response_started=True)
        context.response_headers = None
        if result == _CONTINUE_AND_END_STREAM:
            body, trailers = b"", None
        if body:
            body = self._body(context, "proxy_on_response_body", abi.STREAM_RESPONSE,
                              _chunks(body, trailers, split))
        if trailers is not None:
            self._trailers(context, "proxy_on_response_trailers", abi.STREAM_RESPONSE, trailers)
        status = headers.get(b":status") or b"0"
        raise _Ended(int(status) if status.isdigit() else 0, headers, body, trailers,
                     split=split)

    def _finish(self, context: Context) -> None:
        """Access log, then destroy: ``on_log``, ``on_done``, ``on_delete``."""
        context.request_headers = context.response_headers = None
        context.request_body = context.response_body = None
        context.access_log_phase = True
        try:
            self._call(context, "proxy_on_log", context.id)
            context.access_log_phase = False
            self._call(context, "proxy_on_done", context.id)
            self._call(context, "proxy_on_delete", context.id)
        except _VmFailed:
            pass  # recorded in the notes; the response had been sent
        finally:
            context.access_log_phase = False


def _trailers(pairs: list[tuple[str, str]],
              inline: frozenset[bytes] = NO_INLINE) -> HeaderMap | None:
    """A traffic file's trailers as a header map (None: it has none)."""
    return HeaderMap.from_text(pairs, inline) if pairs else None


def _chunks(body: bytes, trailers: HeaderMap | None, split: bool) -> list[tuple[bytes, bool]]:
    """How a body reaches the body callback: HTTP/1 gives its data then an empty end
    (``split``), a local reply one call; with trailers, the data only (the trailers end it)."""
    if trailers is not None:
        return [(body, False)]
    return [(body, False), (b"", True)] if split else [(body, True)]


def _from_hop(answer: HopResponse) -> _Ended:
    """A fail-open plugin passes the rest of the chain's answer on untouched."""
    return _Ended(answer.status, answer.headers if answer.status else None, answer.body,
                  answer.trailers, direct=answer.direct, split=answer.split)


def _status_only(status: int) -> HeaderMap:
    headers = HeaderMap()
    headers.add(b":status", str(status).encode())
    return headers

"""The plugin lifecycle and the per-request state machine, as Envoy drives them.

Start: ``_initialize`` (+ ``main``) or ``_start``; ``proxy_on_context_create(root, 0)``;
``proxy_on_vm_start``; ``proxy_on_configure``.  Per request, on a new stream context:
``on_context_create`` -> ``on_request_headers`` -> ``on_request_body`` -> (upstream) ->
``on_response_headers`` -> ``on_response_body`` -> ``on_log`` -> ``on_done`` -> ``on_delete``.

Envoy's rules this follows:
- a local reply asked for in the request phase is sent when the callback returns, *through
  the filter chain*: the filter's own ``on_response_headers``/``on_response_body`` see it;
  one asked for while the response headers are still held is sent directly (no callbacks);
  one asked for after the response headers went out resets the stream;
- after ``proxy_send_local_response`` the callback's return value is ignored (stop);
- access logging (``on_log``) runs before the filter is destroyed (``on_done``, ``on_delete``);
- a trap fails the VM: the stream gets a 503, later callbacks are skipped, and every later
  request gets a 503 too (Envoy's default fail-closed policy);
- a stream paused with nothing to resume it would hit Envoy's stream idle timeout: 408
  (reported with a harness note in the logs).

A ``Verdict`` with status 0 means the client saw a reset, no response.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from meshwasm.harness import abi
from meshwasm.harness.context import Context, LocalReply
from meshwasm.harness.envoy_http import (
    RequestIds, client_response_headers, downstream_request_headers, local_reply_headers,
    upstream_request, upstream_response_headers,
)
from meshwasm.harness.errors import GuestTrap, ModuleError
from meshwasm.harness.headers import HeaderMap
from meshwasm.harness.host import Host
from meshwasm.replay.model import Exchange, HttpRequest, LogLine, Verdict

_CONTINUE_AND_END_STREAM = 2


class Guest(Protocol):
    """What the driver needs of an engine: the exported callbacks and the start code."""

    callbacks: Mapping[str, Callable[..., int | None]]

    def start(self) -> None: ...


class _VmFailed(Exception):
    pass


class _Ended(Exception):
    """The response is final (sent, reset or failed); carries it."""

    def __init__(self, status: int, headers: HeaderMap | None, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


class PluginRunner:
    """One plugin in one VM: ``start()`` once, then ``run(exchange)`` per request."""

    def __init__(self, host: Host, guest: Guest, label: str = "module") -> None:
        self.host = host
        self.guest = guest
        self.label = label
        self.cb = guest.callbacks
        self._ids = RequestIds()

    # -- calls into the module -------------------------------------------------------------
    def _call(self, context: Context, name: str, *args: int) -> int | None:
        function = self.cb.get(name)
        if function is None:
            return None
        self.host.enter(context)
        try:
            return function(*args)
        except GuestTrap as trap:
            self.host.failed = f"Function: {name} failed: {trap}"
            context.logs.append(LogLine("critical", self.host.failed))
            raise _VmFailed from None

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

    def _refused(self, why: str) -> ModuleError:
        tail = "\n".join(f"  [{line.level}] {line.message}" for line in self.host.root.logs[-20:])
        return ModuleError(f"{self.label}: {why}" + (f"\nlog:\n{tail}" if tail else ""))

    # -- one request -----------------------------------------------------------------------
    def run(self, exchange: Exchange) -> Verdict:
        """Replay one exchange and return what the client and the upstream saw."""
        host = self.host
        context = host.new_stream(exchange.request)
        upstream: list[HttpRequest] = []
        if host.failed:
            context.logs.append(LogLine("error", f"the VM failed earlier ({host.failed}); "
                                                 "Envoy answers 503"))
            ended = _Ended(503, None, b"")
        else:
            try:
                self._stream(context, exchange, upstream)
                raise AssertionError("unreachable: _stream always ends")  # pragma: no cover
            except _Ended as end:
                ended = end
            except _VmFailed:
                ended = _Ended(503, None, b"")
            if not host.failed:
                self._finish(context)
        host.drop(context)
        if ended.status == 0:
            headers: list[tuple[str, str]] = []
        else:
            response = ended.headers or _plain_headers(ended.status)
            headers = client_response_headers(response, ended.body)
        return Verdict(status=ended.status, headers=headers, body=ended.body, logs=context.logs,
                       upstream_request=upstream[0] if upstream else None)

    def _stream(self, context: Context, exchange: Exchange, upstream: list[HttpRequest]) -> None:
        request = exchange.request
        self._call(context, "proxy_on_context_create", context.id, context.root_id)
        headers = downstream_request_headers(request, self._ids.next())
        context.final_request_headers = headers
        body = request.body
        context.request_headers, context.end_of_stream = headers, not body
        result = self._call(context, "proxy_on_request_headers", context.id, len(headers),
                            int(not body))
        self._settle_request(context, result, "on_request_headers")
        context.request_headers = None
        if result == _CONTINUE_AND_END_STREAM:
            body = b""
        if body:
            context.request_body, context.end_of_stream = bytearray(body), True
            result = self._call(context, "proxy_on_request_body", context.id, len(body), 1)
            self._settle_request(context, result, "on_request_body")
            body = bytes(context.request_body)
            context.request_body = None
        upstream.append(upstream_request(headers, body))
        answer = exchange.upstream
        context.response_status, context.response_details = answer.status, "via_upstream"
        self._encode(context, upstream_response_headers(answer), answer.body)

    def _settle_request(self, context: Context, result: int | None, callback: str) -> None:
        """Apply what the filter asked for in a request-phase callback."""
        if context.reset_requested:
            raise _Ended(0, None, b"")
        if context.local_reply is not None:
            reply, context.local_reply = context.local_reply, None
            self._send_through_chain(context, reply)
        if not result or abi.STREAM_REQUEST in context.continue_requested \
                or result == _CONTINUE_AND_END_STREAM:
            context.continue_requested.discard(abi.STREAM_REQUEST)
            return
        context.logs.append(LogLine("warn", f"harness: the filter paused the stream in "
                                            f"{callback} and nothing resumed it; Envoy ends "
                                            "it at the stream idle timeout with a 408"))
        self._send_through_chain(context, LocalReply(408, b"stream timeout", [], -1, b""))

    def _send_through_chain(self, context: Context, reply: LocalReply) -> None:
        context.response_status = reply.status
        context.response_details = reply.details.decode(errors="replace") or "local_reply"
        self._encode(context, local_reply_headers(reply), reply.body)

    def _encode(self, context: Context, headers: HeaderMap, body: bytes) -> None:
        """Run the response through the filter, then end the stream with it."""
        context.final_response_headers = headers
        context.response_headers, context.end_of_stream = headers, not body
        result = self._call(context, "proxy_on_response_headers", context.id, len(headers),
                            int(not body))
        self._settle_response(context, result, "on_response_headers", headers_sent=False)
        context.response_headers = None
        if result == _CONTINUE_AND_END_STREAM:
            body = b""
        if body:
            context.response_body, context.end_of_stream = bytearray(body), True
            result = self._call(context, "proxy_on_response_body", context.id, len(body), 1)
            self._settle_response(context, result, "on_response_body", headers_sent=True)
            body = bytes(context.response_body)
            context.response_body = None
        status = headers.get(b":status") or b"0"
        raise _Ended(int(status) if status.isdigit() else 0, headers, body)

    def _settle_response(self, context: Context, result: int | None, callback: str,
                         headers_sent: bool) -> None:
        if context.reset_requested:
            raise _Ended(0, None, b"")
        if context.local_reply is not None:
            reply, context.local_reply = context.local_reply, None
            if headers_sent:
                raise _Ended(0, None, b"")  # too late for a reply: Envoy resets the stream
            context.response_status = reply.status
            raise _Ended(reply.status, local_reply_headers(reply), reply.body)
        if not result or abi.STREAM_RESPONSE in context.continue_requested \
                or result == _CONTINUE_AND_END_STREAM:
            context.continue_requested.discard(abi.STREAM_RESPONSE)
            return
        context.logs.append(LogLine("warn", f"harness: the filter paused the stream in "
                                            f"{callback} and nothing resumed it; Envoy ends "
                                            "it at the stream idle timeout"))
        if headers_sent:
            raise _Ended(0, None, b"")
        raise _Ended(408, local_reply_headers(LocalReply(408, b"stream timeout", [], -1, b"")),
                     b"stream timeout")

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
            pass  # already recorded; the response was sent before
        finally:
            context.access_log_phase = False


def _plain_headers(status: int) -> HeaderMap:
    headers = HeaderMap()
    headers.add(b":status", str(status).encode())
    return headers

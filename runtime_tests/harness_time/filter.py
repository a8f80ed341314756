"""A probe for time passing while a stream is paused, gRPC local replies and http_call
failures (runtime_tests/test_harness_timeline.py).

- ``/hold/<ms>``: the request is paused; the root context resumes it from ``on_tick``
  (``proxy_set_effective_context`` + continue), as filters/fault does;
- ``/hold-reply/<ms>``: the same, but the root sends a local reply (418) instead;
- ``/stall``: paused, nothing ever resumes it;
- ``/grpc/<status>``: a local reply 503 with that gRPC status (-1: none given);
- ``/call/<cluster>``: an http_call (timeout 300 ms); the answer's status, header count and
  body become a local reply (299).
"""

from proxy_wasm import Action, HttpContext, RootContext, clock, log, register
from proxy_wasm import _hostcalls

CALL_TIMEOUT_MS = 300


class Root(RootContext):
    def on_configure(self, configuration: bytes) -> bool:
        self.held: dict[int, tuple[int, "Probe", bool]] = {}
        return True

    def hold(self, stream: "Probe", delay_ms: int, reply: bool) -> None:
        self.held[stream.context_id] = (clock.now_ms() + delay_ms, stream, reply)
        self._schedule()

    def _schedule(self) -> None:
        if not self.held:
            self.set_tick_period_ms(0)
            return
        due = min(due for due, _, _ in self.held.values())
        self.set_tick_period_ms(max(1, due - clock.now_ms()))

    def on_tick(self) -> None:
        now = clock.now_ms()
        for context_id, (due, stream, reply) in list(self.held.items()):
            if due > now:
                continue
            del self.held[context_id]
            _hostcalls.abi.set_effective_context(context_id)
            if reply:
                stream.send_local_response(418, b"released by the root", details="probe")
            else:
                stream.resume_request()
        self._schedule()


class Probe(HttpContext):
    root: Root

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        parts = self.request_headers.get(":path", "/").split("/")
        kind, arg = parts[1], (parts[2] if len(parts) > 2 else "")
        if kind in ("hold", "hold-reply"):
            self.root.hold(self, int(arg), reply=kind == "hold-reply")
            return Action.PAUSE
        if kind == "stall":
            return Action.PAUSE
        if kind == "grpc":
            status = int(arg)
            self.send_local_response(503, b"down: 100%", grpc_status=None if status < 0
                                     else status, details="probe")
            return Action.PAUSE
        if kind == "call":
            self.http_call(arg, [(":method", "GET"), (":path", "/check"), (":authority", arg)],
                           timeout_ms=CALL_TIMEOUT_MS)
            return Action.PAUSE
        return Action.CONTINUE

    def on_http_call_response(self, token: int, num_headers: int, body_size: int,
                              num_trailers: int) -> None:
        headers = dict(self.http_call_response_headers())
        body = self.http_call_response_body(body_size)
        log.info(f"probe: answer {headers.get(':status')} headers={num_headers}")
        self.send_local_response(299, b"%s %d %s" % (headers.get(":status", "-").encode(),
                                                     num_headers, body), details="probe")


register(Probe, root=Root)

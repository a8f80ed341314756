"""tick_metrics: count requests per worker VM cheaply, publish them on a timer.

A stream only bumps a module-level integer (no host call).  Every second ``on_tick`` flushes
that VM's count into the ``tick_metrics_requests`` counter, which all workers share in
Envoy's stats store, and records the time of the last flush in shared data (reported to
clients as ``x-flushed``).  Requests to ``/healthz`` are not counted: a monitor can read the
metric without changing it.
"""

from proxy_wasm import Action, HttpContext, RootContext, clock, log, register, shared_data
from proxy_wasm.metrics import Counter, Gauge

TICK_MS = 1000
UNCOUNTED_PATH = "/healthz"
unflushed = 0


class TickRoot(RootContext):
    def on_configure(self, configuration: bytes) -> bool:
        self.flushed = Counter("tick_metrics_requests")
        self.ticks = Counter("tick_metrics_flushes")
        self.set_tick_period_ms(TICK_MS)
        return True

    def on_tick(self) -> None:
        global unflushed
        if unflushed:
            self.flushed.increment(unflushed)
            self.ticks.increment()
            log.info(f"tick_metrics: flushed {unflushed}")
            unflushed = 0
            shared_data.set("tick_metrics.last_flush_ms", str(clock.now_ms()).encode())


class Count(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        global unflushed
        if self.request_headers.get(":path") != UNCOUNTED_PATH:
            unflushed += 1
        return Action.CONTINUE

    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        value, _ = shared_data.get("tick_metrics.last_flush_ms")
        self.response_headers.set("x-flushed", "yes" if value else "not yet")
        return Action.CONTINUE


register(Count, root=TickRoot)

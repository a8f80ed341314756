"""The virtual timeline of one proxy: timed events of every worker VM, fired in time order.

A timed event is a root context's next ``proxy_on_tick``, or an ``http_call`` answer or gRPC
callback that comes later (a cluster with ``delay_ms``, or a call that times out).  The replay driver moves
time forward in two places, both through ``Timeline.advance_to``:

- before a request, to its ``at`` (``harness/replay.py``);
- while a stream is paused with nothing left to run (``harness/stream.py``): Envoy's event
  loop then only waits for its timers, so the harness jumps to the next event, fires it, and
  repeats until the stream goes on or Envoy's stream idle timeout has passed.

Ordering: earliest first; on a tie, http_call answers before ticks, then lower worker first
(Envoy gives no order between timers of one instant; expectations must not rely on it).  A
tick is re-armed one period after it ran, as Envoy's ``wasm.cc`` does.  A failed VM gets no
more events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from meshwasm.harness.grpc import GrpcEvent
    from meshwasm.harness.host import Host, PendingCall
    from meshwasm.harness.shared import Proxy

_ANSWER, _TICK = 0, 1


class Driver(Protocol):
    """What the timeline needs of a VM's stream driver (``stream.PluginRunner``)."""

    host: Host

    def tick(self) -> None: ...

    def call_answer(self, call: PendingCall | GrpcEvent) -> None: ...


class Timeline:
    """Every worker VM of one proxy, in start order; ``proxy.timeline`` is this object."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.drivers: list[Driver] = []

    def add(self, driver: Driver) -> None:
        """Register a VM's driver (its index is its worker number on ties)."""
        self.drivers.append(driver)

    def next_event(self) -> tuple[int, int, int] | None:
        """(time ms, kind, worker) of the earliest pending event, or None."""
        events = []
        for index, driver in enumerate(self.drivers):
            host = driver.host
            if host.failed:
                continue
            if host.next_tick_ms is not None:
                events.append((host.next_tick_ms, _TICK, index))
            later = [call.due_ms for call in host.pending_calls]
            if later:
                events.append((min(later), _ANSWER, index))
        return min(events) if events else None

    def fire_next(self, limit_ms: int) -> bool:
        """Fire the earliest event if it is due at ``limit_ms`` or before; False if none is."""
        event = self.next_event()
        if event is None or event[0] > limit_ms:
            return False
        when, kind, index = event
        self.proxy.clock.advance_to(when)
        driver = self.drivers[index]
        host = driver.host
        if kind == _TICK:
            host.next_tick_ms = when + host.tick_period_ms  # re-armed after the tick, as Envoy
            driver.tick()
        else:
            call = min(host.pending_calls, key=lambda pending: pending.due_ms)
            host.pending_calls.remove(call)
            driver.call_answer(call)
        return True

    def advance_to(self, at_ms: int) -> None:
        """Fire every event due up to ``at_ms`` in time order, then set the clock to it."""
        while self.fire_next(at_ms):
            pass
        self.proxy.clock.advance_to(at_ms)

    def run_until(self, done: Callable[[], bool], limit_ms: int) -> bool:
        """Fire events in time order until ``done()`` or none is due by ``limit_ms``; True
        if ``done()`` became true (the clock is then at the event that did it), else the
        clock is at ``limit_ms``."""
        while self.fire_next(limit_ms):
            if done():
                return True
        self.proxy.clock.advance_to(limit_ms)
        return False

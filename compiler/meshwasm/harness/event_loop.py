"""One proxy's event loop: every timed and posted event of its worker VMs, with the virtual
clock.

The host model only *enqueues* here (``Host``, ``GrpcClient``, ``Proxy``, ``Context``); the
loop decides when each event runs and hands it to the VM's stream driver
(``stream.PluginRunner``), which calls the module.  Events:

- **answers** — an ``http_call`` answer or a gRPC callback, due at a virtual time (now, or
  later: a cluster's ``delay_ms``, a call's timeout);
- **ticks** — a root context's next ``proxy_on_tick``, re-armed one period after it ran, as
  Envoy's ``wasm.cc`` does;
- **queue deliveries** — ``proxy_on_queue_ready`` for the root context that registered the
  queue last, posted by an enqueue;
- **resumes** — ``proxy_continue_stream``: Envoy runs it after the VM call returned
  (``addAfterVmCallAction``); it marks the stream to go on.

Two ways events run:

- ``run_posted(host)``, once a callback of ``host``'s VM returned (not while another
  delivery is running: the outer one picks up what the inner callbacks posted): resumes,
  then ``host``'s answers already due (earliest first), then queue deliveries (first posted
  first, to whichever VM), re-checking ``host``'s answers after each;
- ``fire_next``/``advance_to``/``run_until``, when time passes: before a request (up to its
  ``at``) and while a stream is paused with nothing posted (Envoy's event loop only waits for
  its timers then).  The earliest event first; on a tie answers before ticks, then the lower
  worker, then the first scheduled.  Envoy gives no order between timers of one instant:
  expectations must not rely on it.

A failed VM (a trap) gets no more events; its driver may have moved on to a new VM
(FAIL_RELOAD), whose events then go to it.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Union

if TYPE_CHECKING:
    from meshwasm.harness.context import Context
    from meshwasm.harness.grpc import GrpcEvent
    from meshwasm.harness.host import Host, PendingCall
    from meshwasm.harness.shared import VirtualClock

    Answer = Union[PendingCall, GrpcEvent]

#: tie order of timed events of one instant
_ANSWER, _TICK = 0, 1


class Driver(Protocol):
    """What the loop needs of a VM's stream driver (``stream.PluginRunner``)."""

    host: Host

    def tick(self) -> None: ...

    def call_answer(self, call: Answer) -> None: ...

    def queue_ready(self, context_id: int, token: int) -> None: ...


@dataclass(eq=False)  # found and removed by identity
class _Timed:
    """An answer due at ``due_ms`` for ``host``'s VM; ``seq`` keeps scheduling order."""

    host: Host
    answer: Answer
    seq: int

    @property
    def due_ms(self) -> int:
        return self.answer.due_ms


@dataclass
class QueueDelivery:
    """A posted ``proxy_on_queue_ready(context_id, token)`` for ``host``'s VM."""

    host: Host
    context_id: int
    token: int


@dataclass
class _Tick:
    period_ms: int
    due_ms: int


class EventLoop:
    """The events of every worker VM of one proxy (``Proxy.loop``), in start order."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.drivers: list[Driver] = []
        self._answers: list[_Timed] = []
        self._ticks: dict[Host, _Tick] = {}  # each VM's root context's next tick
        self._driver_of: dict[Host, Driver] = {}
        self._queue: deque[QueueDelivery] = deque()
        self._resumes: list[tuple[Context, int]] = []
        self._seq = itertools.count()
        self._running_posted = False

    def add(self, driver: Driver) -> None:
        """Register a VM's driver (its index is its worker number on ties)."""
        self.drivers.append(driver)
        self.bind(driver.host, driver)

    def bind(self, host: Host, driver: Driver) -> None:
        """``driver`` runs ``host``'s VM now (a new VM replacing a failed one: FAIL_RELOAD).
        A replaced VM keeps its driver for queue deliveries posted to it, which the new VM
        gets (as Envoy finds the queue's VM by its key); its timed events are dropped."""
        self._driver_of[host] = driver

    # -- what the host model enqueues ---------------------------------------------------
    def schedule(self, host: Host, answer: Answer) -> None:
        """An http_call answer or gRPC callback for ``host``'s VM, at ``answer.due_ms``."""
        self._answers.append(_Timed(host, answer, next(self._seq)))

    def cancel(self, host: Host, matches: Callable[[Answer], bool]) -> None:
        """Drop ``host``'s answers that ``matches`` (a cancelled gRPC call's)."""
        self._answers = [timed for timed in self._answers
                         if not (timed.host is host and matches(timed.answer))]

    def set_tick(self, host: Host, period_ms: int) -> None:
        """``proxy_set_tick_period_milliseconds``: the first tick one period from now; 0
        stops ticks."""
        if period_ms > 0:
            self._ticks[host] = _Tick(period_ms, self.clock.now_ms + period_ms)
        else:
            self._ticks.pop(host, None)

    def post_queue_ready(self, delivery: QueueDelivery) -> None:
        self._queue.append(delivery)

    def post_resume(self, context: Context, stream_type: int) -> None:
        """``proxy_continue_stream``: the stream goes on once the callback returned."""
        self._resumes.append((context, stream_type))

    # -- what is pending (for the host model's readers and tests) -----------------------
    def tick_period(self, host: Host) -> int:
        tick = self._ticks.get(host)
        return tick.period_ms if tick is not None else 0

    def next_tick(self, host: Host) -> int | None:
        """Virtual time of ``host``'s next tick (None: no ticks)."""
        tick = self._ticks.get(host)
        return tick.due_ms if tick is not None else None

    def answers(self, host: Host) -> list[Answer]:
        """``host``'s answers still to deliver, in scheduling order."""
        return [timed.answer for timed in self._answers if timed.host is host]

    def queue_deliveries(self) -> list[QueueDelivery]:
        return list(self._queue)

    # -- running posted events -----------------------------------------------------------
    def take_due_answer(self, host: Host) -> Answer | None:
        """Remove and return ``host``'s earliest answer due now (None: none is)."""
        return self._take_earliest(host, self.clock.now_ms)

    def _take_earliest(self, host: Host, limit_ms: int) -> Answer | None:
        due = [timed for timed in self._answers
               if timed.host is host and timed.due_ms <= limit_ms]
        if not due:
            return None
        earliest = min(due, key=lambda timed: (timed.due_ms, timed.seq))
        self._answers.remove(earliest)
        return earliest.answer

    def run_posted(self, host: Host) -> None:
        """What Envoy runs once a callback of ``host``'s VM returned (see the module doc)."""
        self._apply_resumes()
        if self._running_posted:
            return  # the outer run picks up what this callback posted
        self._running_posted = True
        try:
            while True:
                answer = self.take_due_answer(host)
                if answer is not None:
                    self._driver_of[host].call_answer(answer)
                elif self._queue:
                    delivery = self._queue.popleft()
                    driver = self._driver_of.get(delivery.host)
                    if driver is not None:  # (None: a VM that never had a driver)
                        driver.queue_ready(delivery.context_id, delivery.token)
                else:
                    break
                self._apply_resumes()
        finally:
            self._running_posted = False

    def _apply_resumes(self) -> None:
        resumes, self._resumes = self._resumes, []
        for context, stream_type in resumes:
            context.continue_requested.add(stream_type)

    # -- letting time pass ---------------------------------------------------------------
    def next_event(self) -> tuple[int, int, int] | None:
        """(time ms, kind, worker) of the earliest timed event, or None."""
        events = []
        for index, driver in enumerate(self.drivers):
            host = driver.host
            if host.failed:
                continue
            tick = self._ticks.get(host)
            if tick is not None:
                events.append((tick.due_ms, _TICK, index))
            later = [timed.due_ms for timed in self._answers if timed.host is host]
            if later:
                events.append((min(later), _ANSWER, index))
        return min(events) if events else None

    def fire_next(self, limit_ms: int) -> bool:
        """Fire the earliest event if it is due at ``limit_ms`` or before; False if none is."""
        event = self.next_event()
        if event is None or event[0] > limit_ms:
            return False
        when, kind, index = event
        self.clock.advance_to(when)
        driver = self.drivers[index]
        if kind == _TICK:
            tick = self._ticks[driver.host]
            tick.due_ms = when + tick.period_ms  # re-armed after the tick, as Envoy
            driver.tick()
        else:
            answer = self._take_earliest(driver.host, when)
            assert answer is not None  # next_event found it
            driver.call_answer(answer)
        return True

    def advance_to(self, at_ms: int) -> None:
        """Fire every event due up to ``at_ms`` in time order, then set the clock to it."""
        while self.fire_next(at_ms):
            pass
        self.clock.advance_to(at_ms)

    def run_until(self, done: Callable[[], bool], limit_ms: int) -> bool:
        """Fire events in time order until ``done()`` or none is due by ``limit_ms``; True
        if ``done()`` became true (the clock is then at the event that did it), else the
        clock is at ``limit_ms``."""
        while self.fire_next(limit_ms):
            if done():
                return True
        self.clock.advance_to(limit_ms)
        return False


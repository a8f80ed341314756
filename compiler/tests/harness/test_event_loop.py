"""The proxy's event loop (harness/event_loop.py) on the host model, with stand-in drivers:
the order of equal-time events, cancellation, ticks against answers, and what runs once a
callback returned (resumes, answers due now, queue deliveries)."""

from __future__ import annotations

from collections.abc import Callable

from meshwasm.harness import abi
from meshwasm.harness.context import Context
from meshwasm.harness.grpc import GrpcEvent
from meshwasm.harness.host import Host, PendingCall
from meshwasm.harness.shared import Proxy
from meshwasm.replay.model import GrpcAnswer, UpstreamResponse

HEADERS = [(b":method", b"GET"), (b":path", b"/"), (b":authority", b"c")]


class Recorder:
    """A stand-in stream driver: records each event it is given, and may run ``react``
    (what the 'callback' does) before the loop's posted events run, as a driver does."""

    def __init__(self, host: Host, name: str, log: list[str],
                 react: Callable[[str], None] | None = None) -> None:
        self.host, self.name, self.log = host, name, log
        self.react = react or (lambda _event: None)

    def _ran(self, event: str) -> None:
        self.log.append(f"{self.host.proxy.clock.now_ms} {self.name} {event}")
        self.react(event)
        self.host.proxy.loop.run_posted(self.host)

    def tick(self) -> None:
        self._ran("tick")

    def call_answer(self, call: PendingCall | GrpcEvent) -> None:
        self._ran(f"answer {call.token}")

    def queue_ready(self, context_id: int, token: int) -> None:
        self._ran(f"queue {token}")


def _proxy(workers: int = 2, **clusters: UpstreamResponse,
           ) -> tuple[Proxy, list[Host], list[Recorder], list[str]]:
    proxy = Proxy(clusters)
    log: list[str] = []
    hosts = [Host(b"", proxy=proxy) for _ in range(workers)]
    drivers = [Recorder(host, f"w{index}", log) for index, host in enumerate(hosts)]
    for driver in drivers:
        proxy.loop.add(driver)
    return proxy, hosts, drivers, log


def _call(host: Host, cluster: bytes = b"c") -> int:
    status, token = host.http_call(cluster, HEADERS, b"", [], 0)
    assert status == abi.OK
    return token


def test_equal_time_events_answers_first_then_lower_worker_then_first_scheduled() -> None:
    proxy, (first, second), _, log = _proxy(c=UpstreamResponse(delay_ms=100))
    first.tick_period_ms = 100
    second.tick_period_ms = 100
    late = _call(second)
    early = _call(second)  # same due time: delivered in the order they were made
    mine = _call(first)
    proxy.loop.advance_to(100)
    assert log == [f"100 w0 answer {mine}", f"100 w1 answer {late}", f"100 w1 answer {early}",
                   "100 w0 tick", "100 w1 tick"]


def test_a_tick_is_rearmed_one_period_after_it_ran_and_0_stops_ticks() -> None:
    proxy, (host, _), _, log = _proxy()
    host.tick_period_ms = 30
    proxy.loop.advance_to(70)
    assert log == ["30 w0 tick", "60 w0 tick"] and host.next_tick_ms == 90
    host.tick_period_ms = 0
    proxy.loop.advance_to(500)
    assert log == ["30 w0 tick", "60 w0 tick"] and host.next_tick_ms is None


def test_ticks_and_answers_interleave_by_time_and_time_never_goes_back() -> None:
    proxy, (host, _), _, log = _proxy(slow=UpstreamResponse(delay_ms=250),
                                      fast=UpstreamResponse(delay_ms=50))
    host.tick_period_ms = 100
    slow, fast = _call(host, b"slow"), _call(host, b"fast")
    proxy.loop.advance_to(220)
    assert log == [f"50 w0 answer {fast}", "100 w0 tick", "200 w0 tick"]
    assert proxy.clock.now_ms == 220
    proxy.loop.advance_to(150)  # earlier than now: nothing fires, the clock stays
    assert proxy.clock.now_ms == 220
    proxy.loop.advance_to(300)
    assert log[3:] == [f"250 w0 answer {slow}", "300 w0 tick"]


def test_a_cancelled_grpc_call_gets_nothing_more_and_others_still_come() -> None:
    proxy, (host, _), _, log = _proxy()
    proxy.grpc = {"g": {"s/m": GrpcAnswer(messages=(b"x",), delay_ms=10)}}
    _, cancelled = host.grpc.call(b"g", b"s", b"m", b"", 0)
    _, kept = host.grpc.call(b"g", b"s", b"m", b"", 0)
    assert host.grpc.cancel(cancelled) == abi.OK
    assert [event.token for event in host.pending_calls] == [kept]
    proxy.loop.advance_to(100)
    assert log == [f"10 w0 answer {kept}"]
    assert host.grpc.cancel(cancelled) == abi.NOT_FOUND


def test_a_failed_vm_gets_no_timed_events_and_others_go_on() -> None:
    proxy, (failed, fine), _, log = _proxy(c=UpstreamResponse(delay_ms=10))
    failed.tick_period_ms = fine.tick_period_ms = 40
    _call(failed)
    failed.failed = "trap"
    proxy.loop.advance_to(80)
    assert log == ["40 w1 tick", "80 w1 tick"]


def test_run_until_stops_at_the_event_that_did_it() -> None:
    proxy, (host, _), _, log = _proxy()
    host.tick_period_ms = 25
    assert proxy.loop.run_until(lambda: len(log) == 3, 1000)
    assert proxy.clock.now_ms == 75
    assert not proxy.loop.run_until(lambda: False, 90)
    assert proxy.clock.now_ms == 90


def test_posted_events_answers_due_now_first_then_queue_deliveries_in_order() -> None:
    proxy, (first, second), drivers, log = _proxy(c=UpstreamResponse())
    first.enter(first.root)
    _, mine = first.register_queue(b"mine")
    second.enter(second.root)
    _, theirs = second.register_queue(b"theirs")

    def enqueue_and_call(event: str) -> None:
        if event == f"queue {theirs}":
            _call(second)  # second's own answer, posted while first's events run
        if event == "tick":
            first.enqueue(theirs, b"1")
            first.enqueue(mine, b"2")
            _call(first)  # due now: before the queue deliveries

    drivers[0].react = enqueue_and_call
    drivers[1].react = enqueue_and_call
    first.tick_period_ms = 10
    proxy.loop.advance_to(10)
    # Only the VM whose callback returned has its answers run with the posted events;
    # second's answer, posted meanwhile, comes at the loop's next turn (the same instant).
    assert log == ["10 w0 tick", "10 w0 answer 4", f"10 w1 queue {theirs}",
                   f"10 w0 queue {mine}", "10 w1 answer 4"]


def test_a_resume_is_applied_once_the_callback_returned() -> None:
    proxy, (host, _), drivers, _ = _proxy()
    stream = Context(host, 7, root_id=host.root.id)
    assert stream.continue_stream(abi.STREAM_REQUEST) == abi.OK
    assert stream.continue_requested == set()  # posted, not yet run
    proxy.loop.run_posted(host)
    assert stream.continue_requested == {abi.STREAM_REQUEST}


def test_queue_deliveries_of_a_replaced_vm_go_to_its_driver() -> None:
    proxy, (old, _), drivers, log = _proxy()
    old.enter(old.root)
    _, token = old.register_queue(b"q")
    new = Host(b"", proxy=proxy)
    drivers[0].host = new  # FAIL_RELOAD: the driver now runs a new VM
    proxy.loop.bind(new, drivers[0])
    old.enqueue(token, b"x")
    proxy.loop.run_posted(new)
    assert log == [f"0 w0 queue {token}"]

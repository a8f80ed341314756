"""The virtual timeline (ticks and later http_call answers of every worker, in time order),
http_call answers that come late, time out or reset, gRPC local replies, and ``elapsed_ms``
expectations, on the host model without a module."""

from __future__ import annotations

import pytest

from meshwasm.harness import abi
from meshwasm.harness.context import LocalReply
from meshwasm.harness.envoy_http import is_grpc_request, local_reply_headers
from meshwasm.harness.host import Host, PendingCall
from meshwasm.harness.shared import Proxy
from meshwasm.replay.expect import compare
from meshwasm.replay.model import (
    ElapsedBounds, Expectation, HttpRequest, UpstreamResponse, Verdict,
)
from meshwasm.replay.traffic import TrafficError, parse_traffic

HEADERS = [(b":method", b"GET"), (b":path", b"/"), (b":authority", b"c")]


class _Driver:
    """A stand-in stream driver that records what the timeline fired, and when."""

    def __init__(self, host: Host, name: str, events: list[tuple[int, str]]) -> None:
        self.host, self.name, self.events = host, name, events

    def tick(self) -> None:
        self.events.append((self.host.proxy.clock.now_ms, f"{self.name} tick"))

    def call_answer(self, call: PendingCall) -> None:
        status = call.response.headers.get(b":status")
        self.events.append((self.host.proxy.clock.now_ms, f"{self.name} answer {status!r}"))


def _pool(clusters: dict[str, UpstreamResponse] | None = None,
          ) -> tuple[Proxy, list[Host], list[tuple[int, str]]]:
    proxy = Proxy(clusters)
    events: list[tuple[int, str]] = []
    hosts = [Host(b"", proxy=proxy) for _ in range(2)]
    for index, host in enumerate(hosts):
        proxy.timeline.add(_Driver(host, f"w{index}", events))
    return proxy, hosts, events


def test_events_of_every_worker_fire_in_time_order_and_ticks_rearm() -> None:
    proxy, (first, second), events = _pool({"c": UpstreamResponse(delay_ms=250)})
    first.tick_period_ms = 100
    second.tick_period_ms = 150
    assert second.http_call(b"c", HEADERS, b"", [], 1000)[0] == abi.OK
    proxy.timeline.advance_to(300)
    assert events == [(100, "w0 tick"), (150, "w1 tick"), (200, "w0 tick"),
                      (250, "w1 answer b'200'"), (300, "w0 tick"), (300, "w1 tick")]
    assert proxy.clock.now_ms == 300 and first.next_tick_ms == 400


def test_run_until_stops_at_the_event_that_resumes_or_at_the_limit() -> None:
    proxy, (host, _), events = _pool()
    host.tick_period_ms = 40
    assert proxy.timeline.run_until(lambda: len(events) == 2, 1000)
    assert proxy.clock.now_ms == 80
    assert not proxy.timeline.run_until(lambda: False, 100)
    assert proxy.clock.now_ms == 100 and events[-1] == (80, "w0 tick")


def test_a_failed_vm_gets_no_more_events() -> None:
    proxy, (host, _), events = _pool()
    host.tick_period_ms = 10
    host.failed = "trap"
    proxy.timeline.advance_to(100)
    assert events == []


@pytest.mark.parametrize("answer, timeout, due, status, body", [
    (UpstreamResponse(body=b"ok"), 300, 0, b"200", b"ok"),
    (UpstreamResponse(body=b"ok", delay_ms=100), 300, 100, b"200", b"ok"),
    (UpstreamResponse(body=b"ok", delay_ms=1000), 300, 300, b"504", b"upstream request timeout"),
    (UpstreamResponse(body=b"ok", delay_ms=1000), 0, 1000, b"200", b"ok"),  # 0: no timeout
    (UpstreamResponse(reset=True, delay_ms=20), 300, 20, b"503",
     b"upstream connect error or disconnect/reset before headers. reset reason: "
     b"connection termination"),
])
def test_http_call_answers_late_times_out_or_resets_as_envoy(
        answer: UpstreamResponse, timeout: int, due: int, status: bytes, body: bytes) -> None:
    proxy = Proxy({"c": answer})
    proxy.clock.advance_to(5)
    host = Host(b"", proxy=proxy)
    assert host.http_call(b"c", HEADERS, b"", [], timeout)[0] == abi.OK
    [call] = host.pending_calls
    assert call.due_ms == 5 + due
    assert call.response.headers.get(b":status") == status and call.response.body == body
    if status != b"200":  # Envoy's local reply of the async client's router: 3 headers
        assert [name for name, _ in call.response.headers.pairs()] == [
            b":status", b"content-length", b"content-type"]
    assert (host.due_call() is None) == (due > 0)


def test_grpc_local_reply_is_trailers_only() -> None:
    reply = LocalReply(503, b"down: 100%\n", [(b"x-a", b"b")], 14, b"")
    headers = local_reply_headers(reply, grpc=True)
    assert headers.pairs() == [(b":status", b"200"), (b"x-a", b"b"),
                               (b"content-type", b"application/grpc"),
                               (b"grpc-status", b"14"), (b"grpc-message", b"down: 100%25%0A")]
    derived = local_reply_headers(LocalReply(403, b"", [], -1, b""), grpc=True)
    assert derived.get(b"grpc-status") == b"7" and derived.get(b"grpc-message") is None
    unknown = local_reply_headers(LocalReply(418, b"", [], -1, b""), grpc=True)
    assert unknown.get(b"grpc-status") == b"2"
    plain = local_reply_headers(reply)
    assert plain.get(b":status") == b"503" and plain.get(b"grpc-status") is None


@pytest.mark.parametrize("content_type, grpc", [
    ("application/grpc", True), ("application/grpc+proto", True), ("APPLICATION/GRPC", True),
    ("application/grpc-web", False), ("application/json", False), (None, False)])
def test_grpc_request_is_told_by_content_type(content_type: str | None, grpc: bool) -> None:
    headers = [("content-type", content_type)] if content_type else []
    assert is_grpc_request(HttpRequest(headers=headers)) == grpc


def test_elapsed_bounds_exact_on_virtual_time_with_slack_on_wall_clock() -> None:
    bounds = Expectation(elapsed_ms=ElapsedBounds(at_least=100, at_most=200))
    assert compare(bounds, Verdict(200, [], b"", elapsed_ms=150)) == []
    [low] = compare(bounds, Verdict(200, [], b"", elapsed_ms=99))
    assert low.check == "elapsed" and low.actual == "99ms (virtual time)"
    assert compare(bounds, Verdict(200, [], b"", elapsed_ms=97, wall_clock=True)) == []
    assert compare(bounds, Verdict(200, [], b"", elapsed_ms=1100, wall_clock=True)) == []
    assert compare(bounds, Verdict(200, [], b"", elapsed_ms=1300, wall_clock=True)) != []
    [unmeasured] = compare(bounds, Verdict(200, [], b""))
    assert unmeasured.actual == "(not measured by this engine)"


def test_traffic_file_cluster_delay_reset_and_elapsed() -> None:
    traffic = parse_traffic(
        "clusters:\n  c: {delay_ms: 50, reset: true}\nrequests:\n"
        "  - name: a\n    expect: {elapsed_ms: {at_least: 10}}\n")
    assert traffic.clusters["c"] == UpstreamResponse(delay_ms=50, reset=True)
    assert traffic.exchanges[0].expect.elapsed_ms == ElapsedBounds(at_least=10)
    with pytest.raises(TrafficError, match=r"upstream.delay_ms: unknown field 'delay_ms'"):
        parse_traffic("requests:\n  - name: a\n    upstream: {delay_ms: 5}\n")
    with pytest.raises(TrafficError, match=r"expect.elapsed_ms.least: unknown field 'least'"):
        parse_traffic("requests:\n  - name: a\n    expect: {elapsed_ms: {least: 5}}\n")

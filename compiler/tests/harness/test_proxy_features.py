"""Traffic-file extras (at, workers, clusters, plugin_config_file, metrics) and the shared
state of a proxy (queues, shared data, stats, ticks), without a module."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.harness import abi
from meshwasm.harness.host import Host
from meshwasm.harness.shared import EPOCH_NS, Proxy
from meshwasm.replay.expect import compare
from meshwasm.replay.model import Expectation, Verdict
from meshwasm.replay.traffic import TrafficError, load_traffic, parse_traffic


def test_at_is_absolute_defaults_to_the_previous_and_accepts_units() -> None:
    traffic = parse_traffic("requests:\n"
                            "  - {name: a}\n  - {name: b, at: 1500ms}\n  - {name: c}\n"
                            "  - {name: d, at: 2s}\n  - {name: e, at: 2500}\n")
    assert [e.at_ms for e in traffic.exchanges] == [0, 1500, 1500, 2000, 2500]


def test_at_going_back_names_the_line() -> None:
    with pytest.raises(TrafficError, match=r"t.yaml:3: request #2 \('b'\): at: '1s' is earlier"):
        parse_traffic("requests:\n  - {name: a, at: 2s}\n  - {name: b, at: 1s}\n", "t.yaml")


def test_workers_clusters_overrides_and_metrics() -> None:
    traffic = parse_traffic(
        "workers: 3\nclusters:\n  authz: {status: 403, body: nope}\nrequests:\n"
        "  - name: a\n    worker: 2\n    clusters: {authz: {status: 200}}\n"
        "    expect: {metrics: {hits: 1}}\n")
    assert traffic.workers == 3
    assert traffic.clusters["authz"].status == 403 and traffic.clusters["authz"].body == b"nope"
    [exchange] = traffic.exchanges
    assert exchange.worker == 2 and exchange.clusters["authz"].status == 200
    assert exchange.expect.metrics == {"hits": 1}


def test_plugin_config_file_is_relative_to_the_traffic_file(tmp_path: Path) -> None:
    (tmp_path / "cfg.json").write_bytes(b'{"a": 1}')
    (tmp_path / "t.yaml").write_text("plugin_config_file: cfg.json\nrequests: [{name: a}]\n")
    # a JSON/YAML file follows the one rule: its mapping reaches the filter as compact JSON
    assert load_traffic(tmp_path / "t.yaml").plugin_config == b'{"a":1}'
    (tmp_path / "bad.yaml").write_text("plugin_config_file: nope.json\nrequests: [{name: a}]\n")
    with pytest.raises(TrafficError,
                       match="bad.yaml:1: plugin_config_file: .*nope.json: cannot read"):
        load_traffic(tmp_path / "bad.yaml")
    (tmp_path / "both.yaml").write_text("plugin_config: x\nplugin_config_file: cfg.json\n"
                                        "requests: [{name: a}]\n")
    with pytest.raises(TrafficError, match="either plugin_config or plugin_config_file"):
        load_traffic(tmp_path / "both.yaml")


def test_metric_expectations_compare_by_name() -> None:
    verdict = Verdict(200, [], b"", metrics={"hits": 2})
    assert compare(Expectation(metrics={"hits": 2}), verdict) == []
    [wrong, missing] = compare(Expectation(metrics={"hits": 1, "other": 0}), verdict)
    assert (wrong.check, wrong.expected, wrong.actual) == ("metric hits", "1", "2")
    assert missing.actual == "(absent)"


def test_queues_keep_messages_and_notify_the_last_registrant() -> None:
    proxy = Proxy()
    first, second = Host(b"", proxy=proxy), Host(b"", proxy=proxy)
    first.enter(first.root)
    _, token = first.register_queue(b"audit")
    second.enter(second.root)
    assert second.register_queue(b"audit") == (abi.OK, token)
    assert second.resolve_queue(b"", b"audit") == (abi.OK, token)
    assert second.resolve_queue(b"", b"other")[0] == abi.NOT_FOUND
    assert first.enqueue(token, b"one") == abi.OK
    assert [(host is second, context) for host, context, _ in proxy.ready] == [(True, 1)]
    assert first.dequeue(token) == (abi.OK, b"one")
    assert first.dequeue(token)[0] == abi.EMPTY
    assert first.enqueue(999, b"x") == abi.NOT_FOUND


def test_shared_data_cas_and_stats_are_process_wide() -> None:
    proxy = Proxy()
    first, second = Host(b"", proxy=proxy), Host(b"", proxy=proxy)
    assert first.set_shared_data(b"k", b"1", 0) == abi.OK
    status, value, cas = second.get_shared_data(b"k")
    assert (status, value) == (abi.OK, b"1")
    assert first.set_shared_data(b"k", b"2", cas) == abi.OK
    assert second.set_shared_data(b"k", b"3", cas) == abi.CAS_MISMATCH
    _, mine = first.define_metric(abi.METRIC_COUNTER, b"hits")
    _, theirs = second.define_metric(abi.METRIC_COUNTER, b"hits")
    assert first.increment_metric(mine, 2) == abi.OK
    assert second.record_metric(theirs, 3) == abi.OK  # record adds to a counter
    assert second.get_metric(theirs) == (abi.OK, 5)
    assert first.increment_metric(mine, -1) == abi.BAD_ARGUMENT
    assert proxy.metric_values() == {"hits": 5}


def test_virtual_clock_and_tick_schedule() -> None:
    proxy = Proxy()
    host = Host(b"", proxy=proxy)
    assert host.clock_ns() == EPOCH_NS
    proxy.clock.advance_to(250)
    host.tick_period_ms = 1000
    assert host.next_tick_ms == 1250
    assert host.clock_ns() == EPOCH_NS + 250_000_000
    host.tick_period_ms = 0
    assert host.next_tick_ms is None


def test_http_call_checks_cluster_and_headers() -> None:
    from meshwasm.replay.model import UpstreamResponse
    proxy = Proxy({"authz": UpstreamResponse(200, [("x-user", "al")], b"ok")})
    host = Host(b"", proxy=proxy)
    headers = [(b":method", b"GET"), (b":path", b"/"), (b":authority", b"authz")]
    assert host.http_call(b"nope", headers, b"", [], 100) == (abi.BAD_ARGUMENT, 0)
    assert host.http_call(b"authz", headers[:2], b"", [], 100) == (abi.BAD_ARGUMENT, 0)
    assert host.http_call(b"authz", headers, b"", [], 100) == (abi.OK, 4)
    [call] = host.pending_calls
    assert call.context_id == host.root.id
    assert call.response.headers.get(b"x-user") == b"al" and call.response.body == b"ok"

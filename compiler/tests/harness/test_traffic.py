"""Traffic files: what loads, and errors that name the file, line, request and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.replay.traffic import TrafficError, load_traffic, parse_traffic

PROJECT = Path(__file__).resolve().parents[3]


def _error(text: str) -> str:
    with pytest.raises(TrafficError) as caught:
        parse_traffic(text, source="t.yaml")
    return str(caught.value)


def test_the_c_filter_traffic_loads() -> None:
    traffic = load_traffic(PROJECT / "runtime_tests" / "other_sdk" / "hello_c.traffic.yaml")
    assert traffic.plugin_config == b"c-config-value"
    first, second = traffic.exchanges
    assert (first.request.method, first.request.path) == ("GET", "/hello")
    assert first.request.headers == [("x-user", "alice")]
    assert first.upstream.body == b"hello from upstream"
    assert first.expect.headers == {"x-c-filter": "on", "x-c-config": "c-config-value"}
    assert first.expect.logs == ["c filter saw /hello"]
    assert first.line == 4
    assert second.expect.status == 403 and second.expect.upstream_reached is False
    assert second.upstream.status == 200  # defaults


def test_defaults_lower_casing_and_header_forms() -> None:
    traffic = parse_traffic("""
plugin_config: {limit: 3, names: [a, b]}
requests:
  - name: list headers keep repeats and order
    request:
      method: POST
      headers: [[X-A, "1"], [x-a, 2]]
      body: payload
    expect:
      headers: {X-Out: yes-really}
      headers_absent: [X-Gone]
""")
    assert traffic.plugin_config == b'{"limit":3,"names":["a","b"]}'
    [exchange] = traffic.exchanges
    assert exchange.request.headers == [("x-a", "1"), ("x-a", "2")]
    assert exchange.request.path == "/" and exchange.request.authority == "example.com"
    assert exchange.request.body == b"payload"
    assert exchange.expect.headers == {"x-out": "yes-really"}
    assert exchange.expect.headers_absent == ["x-gone"]
    assert exchange.expect.status is None and exchange.expect.body is None
    assert parse_traffic("requests: [{name: a}]").plugin_config == b""


def test_unknown_field_names_request_field_and_line() -> None:
    message = _error("""requests:
  - name: first
  - name: the denied one
    expect:
      status: 403
      statsu: 403
""")
    assert message.startswith("t.yaml:6: request #2 ('the denied one'): expect.statsu: ")
    assert "unknown field 'statsu'" in message and "allowed: body" in message


def test_wrong_type_points_at_the_value_line() -> None:
    message = _error("""requests:
  - name: r
    upstream:
      status: "two hundred"
""")
    assert message.startswith("t.yaml:4: request #1 ('r'): upstream.status: ")
    assert "not of type 'integer'" in message


def test_unquoted_yaml_boolean_gets_a_hint() -> None:
    message = _error("""requests:
  - name: r
    expect:
      headers:
        x-c-filter: on
""")
    assert message.startswith("t.yaml:5: request #1 ('r'): expect.headers.x-c-filter:")
    assert "quote it" in message


def test_several_problems_are_all_reported_in_line_order() -> None:
    message = _error("""requests:
  - request: {path: /a}
  - name: b
    request: {path: no-slash}
""")
    first, second = message.splitlines()
    assert first.startswith("t.yaml:2: request #1:") and "'name' is a required property" in first
    assert second.startswith("t.yaml:4: request #2 ('b'): request.path:")


def test_top_level_problems() -> None:
    assert "t.yaml:1: " in _error("requets: []")
    assert "unknown field 'requets'" in _error("requets: []")
    assert _error("") == "t.yaml:1: the file is empty (expected 'requests:')"
    assert _error("requests: []").startswith("t.yaml:1: requests: [] should be non-empty")


def test_duplicate_keys_and_invalid_yaml() -> None:
    assert _error("requests:\n  - name: a\n    name: b\n") == \
        "t.yaml:3: duplicate key 'name' in requests[0]"
    assert _error("requests: [\n").startswith("t.yaml:2: invalid YAML: ")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(TrafficError, match="cannot read traffic file"):
        load_traffic(tmp_path / "missing.yaml")


def _write(folder: Path, text: str) -> Path:
    path = folder / "t.yaml"
    path.write_text(text)
    return path


def test_harness_limits_are_read_and_checked_by_the_schema(tmp_path: Path) -> None:
    from meshwasm.replay.model import HarnessLimits
    assert load_traffic(_write(tmp_path, "requests: [{name: a}]\n")).limits == HarnessLimits()
    given = _write(tmp_path, "harness_limits: {callback_time_limit: 2.5, memory_limit_mb: 0}\n"
                             "requests: [{name: a}]\n")
    assert load_traffic(given).limits == HarnessLimits(2.5, None)  # 0: no limit
    for bad, message in (("{callback_time_limit: -1}", "harness_limits.callback_time_limit"),
                         ("{memory_limit_mb: 1.5}", "harness_limits.memory_limit_mb"),
                         ("{time_limit: 3}", "harness_limits"),
                         ("{}", "harness_limits")):
        path = _write(tmp_path, f"harness_limits: {bad}\nrequests: [{{name: a}}]\n")
        with pytest.raises(TrafficError, match=rf"t\.yaml:1: {message}"):
            load_traffic(path)

"""What a traffic file can check and set: header checks by prefix, regex and absence (for the
client and the upstream), bodies as JSON, log lines by regex, trailers, and ``now``."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.harness import replay_module
from meshwasm.replay.expect import compare
from meshwasm.replay.model import HttpRequest, LogLine, Verdict
from meshwasm.replay.traffic import TrafficError, parse_traffic
from tests.harness.wat import LOG_IMPORT, Wat, write

CHECKS = """
requests:
  - name: checks
    request: {path: /}
    expect:
      headers:
        x-token: {prefix: "Bearer "}
        x-id: {regex: "^[0-9a-f]{8}$"}
        x-secret: {absent: true}
        x-plain: exact
      body_json: {ok: true, items: [1, 2]}
      upstream_headers:
        authorization: {regex: "^Basic "}
        cookie: {absent: true}
      upstream_body_json: {user: alice}
      upstream_body_contains: alice
      upstream_trailers: {x-sum: {prefix: "sha256:"}}
      trailers: {grpc-status: "0"}
      logs: [{regex: "^granted [0-9]+ms$"}, "granted"]
"""


def _verdict(**changes: object) -> Verdict:
    upstream = HttpRequest(headers=[("authorization", "Basic YQ==")], body=b'{"user": "alice"}',
                           trailers=[("x-sum", "sha256:abc")])
    fields: dict = dict(status=200, body=b'{"items": [1, 2], "ok": true}',
                        headers=[("x-token", "Bearer t"), ("x-id", "0badf00d"),
                                 ("x-plain", "exact")],
                        logs=[LogLine("info", "granted 12ms")], upstream_request=upstream,
                        trailers=[("grpc-status", "0")])
    fields.update(changes)
    return Verdict(**fields)


def _expectation():  # type: ignore[no-untyped-def]
    return parse_traffic(CHECKS, source="t.yaml").exchanges[0].expect


def test_every_check_passes_on_a_matching_verdict() -> None:
    assert compare(_expectation(), _verdict()) == []


def test_each_check_fails_with_what_it_wanted() -> None:
    upstream = HttpRequest(headers=[("authorization", "Bearer x"), ("cookie", "c=1")],
                           body=b'{"user": "bob"}')
    verdict = _verdict(headers=[("x-token", "Basic t"), ("x-id", "nothex!!"),
                                ("x-secret", "s")],
                       body=b"not json", logs=[LogLine("info", "granted soon")],
                       upstream_request=upstream, trailers=[])
    found = {mismatch.check: mismatch for mismatch in compare(_expectation(), verdict)}
    assert found["header x-token"].expected == "starting with 'Bearer '"
    assert found["header x-id"].expected == "matching /^[0-9a-f]{8}$/"
    assert found["header x-secret"].expected == "(absent)"
    assert found["header x-secret"].actual == "s"
    assert found["header x-plain"].actual == "(absent)"
    assert found["body as JSON"].actual == "not JSON: not json"
    assert found["upstream header authorization"].actual == "Bearer x"
    assert found["upstream header cookie"].actual == "c=1"
    assert found["upstream body as JSON"].actual == '{"user": "bob"}'
    assert found["upstream body contains"].expected == "alice"
    assert found["upstream trailer x-sum"].actual == "(absent)"
    assert found["trailer grpc-status"].actual == "(absent)"
    assert found["log line matching"].expected == "/^granted [0-9]+ms$/"
    assert "log line containing" not in found  # "granted" is in "granted soon"
    assert len(found) == 12


def test_upstream_checks_say_it_was_not_reached() -> None:
    found = compare(_expectation(), _verdict(upstream_request=None))
    assert [(m.check, m.expected) for m in found if m.check.startswith("upstream")] == [
        ("upstream headers", "authorization, cookie"), ("upstream trailers", "x-sum"),
        ("upstream body", "(checked)")]


def test_a_bad_regex_is_named_with_file_line_and_field() -> None:
    text = CHECKS.replace('"^granted [0-9]+ms$"', '"granted ([0-9]+ms"')
    with pytest.raises(TrafficError) as caught:
        parse_traffic(text, source="t.yaml")
    message = str(caught.value)
    assert message.startswith("t.yaml:19: request #1 ('checks'): expect.logs[0].regex: ")
    assert "not a valid regular expression: missing )" in message


def test_a_header_check_of_two_kinds_is_refused() -> None:
    text = CHECKS.replace('{prefix: "Bearer "}', '{prefix: "Bearer ", absent: true}')
    with pytest.raises(TrafficError, match=r"t\.yaml:7: request #1 \('checks'\): "
                                           r"expect\.headers\.x-token"):
        parse_traffic(text, source="t.yaml")


def test_now_is_parsed_and_checked() -> None:
    text = "now: 2030-06-01T12:00:00.5Z\nrequests: [{name: a}]\n"
    assert parse_traffic(text).now_ns == 1_906_545_600_500_000_000
    assert parse_traffic("now: 2030-06-01T14:00:00+02:00\nrequests: [{name: a}]\n").now_ns \
        == 1_906_545_600_000_000_000
    assert parse_traffic("requests: [{name: a}]\n").now_ns is None
    with pytest.raises(TrafficError, match=r"t\.yaml:1: now: 'tomorrow': expected an RFC 3339"):
        parse_traffic("now: tomorrow\nrequests: [{name: a}]\n", source="t.yaml")
    with pytest.raises(TrafficError, match=r"t\.yaml:1: now: month must be in 1\.\.12"):
        parse_traffic("now: 2030-13-01T00:00:00Z\nrequests: [{name: a}]\n", source="t.yaml")


def test_now_sets_the_clock_the_module_reads(tmp_path: Path) -> None:
    """The module reads proxy_get_current_time_nanoseconds and says whether it is past
    2030-01-01T00:00:00Z; without ``now`` the harness starts at 2024-01-01."""
    w = Wat()
    after, before = w.say("after 2030"), w.say("before 2030")
    wasm = w.module({"proxy_on_request_headers": (
        "(drop (call $now (i32.const 3000)))"
        "(if (i64.gt_u (i64.load (i32.const 3000)) (i64.const 1893456000000000000))"
        f"  (then {after}) (else {before}))")},
        imports=(LOG_IMPORT, '(import "env" "proxy_get_current_time_nanoseconds" '
                             '(func $now (param i32) (result i32)))'))
    module = write(tmp_path, wasm)
    for now, said in (("now: 2030-06-01T00:00:00Z\n", "after 2030"), ("", "before 2030")):
        traffic = parse_traffic(now + "requests: [{name: a}, {name: b, at: 1s}]\n")
        for verdict in replay_module(module, traffic):
            assert [line.message for line in verdict.logs] == [said]

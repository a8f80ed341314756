"""Envoy 1.40 facts the wasmtime harness must copy, pinned with a raw-ABI probe filter.

The probe (envoy_facts/local_reply_probe.c) logs every callback it gets and every header it
sees; these tests fix what a real Envoy does around ``proxy_send_local_response`` and traps,
and run the same assertions against the harness, so the two engines stay interchangeable.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from meshwasm_testkit.raw_c_filter import compile_raw_c_filter
from meshwasm.deploy.envoy.replay import replay_in_envoy
from meshwasm.harness import replay_module
from meshwasm.replay.model import (
    Exchange,
    Expectation,
    HttpRequest,
    Traffic,
    UpstreamResponse,
    Verdict,
)

PROBE = Path(__file__).resolve().parent / "envoy_facts" / "local_reply_probe.c"


@pytest.fixture(scope="module")
def probe_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_raw_c_filter(PROBE, tmp_path_factory.mktemp("probe") / "probe.wasm")


def _traffic(*requests: tuple[HttpRequest, UpstreamResponse]) -> Traffic:
    exchanges = [Exchange(f"#{i}", request, upstream, Expectation())
                 for i, (request, upstream) in enumerate(requests)]
    return Traffic(PROBE, b"", exchanges)


_VARYING = ("req-header x-request-id", "resp-header x-envoy-upstream-service-time")


def _messages(verdict: Verdict) -> list[str]:
    """The probe's log lines, values that vary per run (random id, timing) cut off."""
    messages = []
    for line in verdict.logs:
        varying = next((prefix for prefix in _VARYING if line.message.startswith(prefix)), None)
        messages.append(varying or line.message)
    return messages


UPSTREAM = UpstreamResponse(200, [("content-type", "text/plain")], b"hello from upstream")
Replay = Callable[..., list[Verdict]]


@pytest.fixture(params=["harness", pytest.param("envoy", marks=pytest.mark.envoy)])
def replay(request: pytest.FixtureRequest, probe_wasm: Path) -> Replay:
    """Replay (request, upstream) pairs through the probe in one engine."""
    engine = replay_module if request.param == "harness" else replay_in_envoy

    def run(*requests: tuple[HttpRequest, UpstreamResponse],
            failure_policy: str = "FAIL_CLOSED") -> list[Verdict]:
        return engine(probe_wasm, _traffic(*requests), failure_policy=failure_policy)
    return run


def test_upstream_response_callbacks(replay: Replay) -> None:
    [verdict] = replay((HttpRequest(path="/hello"), UPSTREAM))
    assert _messages(verdict) == [
        "cb request_headers eos=1 n=6",
        "req-header :authority: example.com",
        "req-header :path: /hello",
        "req-header :method: GET",
        "req-header :scheme: http",
        "req-header x-forwarded-proto: http",
        "req-header x-request-id",
        "cb response_headers eos=0 n=4",
        "resp-header :status: 200",
        "resp-header content-type: text/plain",
        "resp-header content-length: 19",
        "resp-header x-envoy-upstream-service-time",
        "cb response_body eos=0 n=19",
        "resp-body hello from upstream",
        "cb response_body eos=1 n=0",
        "cb log", "cb done", "cb delete",
    ]
    # date and server are added after the filter chain: the filter never sees them
    assert [name for name, _ in verdict.headers] == [
        "content-type", "content-length", "x-envoy-upstream-service-time", "x-probe",
        "date", "server"]


def test_local_reply_from_request_headers_runs_the_response_callbacks(replay: Replay) -> None:
    [verdict] = replay((HttpRequest(path="/deny"), UPSTREAM))
    assert verdict.status == 403 and verdict.body == b"denied"
    assert verdict.upstream_request is None
    assert _messages(verdict)[7:] == [
        "send_local_response returned 0",
        "cb response_headers eos=0 n=4",
        "resp-header :status: 403",
        "resp-header x-probe-local: yes",
        "resp-header content-length: 6",
        "resp-header content-type: text/plain",
        "cb response_body eos=1 n=6",
        "resp-body denied",
        "cb log", "cb done", "cb delete",
    ]
    assert verdict.headers[:4] == [("x-probe-local", "yes"), ("content-length", "6"),
                                   ("content-type", "text/plain"), ("x-probe", "on")]
    assert [name for name, _ in verdict.headers[4:]] == ["date", "server"]


def test_local_reply_before_the_request_body(replay: Replay) -> None:
    request = HttpRequest(method="POST", path="/deny", body=b"xyz")
    [verdict] = replay((request, UPSTREAM))
    messages = _messages(verdict)
    assert messages[0] == "cb request_headers eos=0 n=7"
    assert not any(m.startswith("cb request_body") for m in messages)
    assert verdict.status == 403
    assert verdict.header("connection") == "close"  # the unread body ends the connection


def test_local_reply_from_response_headers_replaces_the_response(replay: Replay) -> None:
    late, twice = replay((HttpRequest(path="/late-deny"),
                          UpstreamResponse(200, [("x-up", "1")], b"upstream body")),
                         (HttpRequest(path="/deny-twice"), UPSTREAM))
    for verdict in (late, twice):
        # the second reply wins whole: its status and body, none of the earlier headers
        # (not even those the filter added in the same callback), and the filter's response
        # callbacks do not run again for it
        assert (verdict.status, verdict.body) == (500, b"second")
        assert [name for name, _ in verdict.headers] == [
            "content-length", "content-type", "date", "server"]
        assert _messages(verdict)[-4:] == [
            "second send_local_response returned 0", "cb log", "cb done", "cb delete"]
    assert late.upstream_request is not None and twice.upstream_request is None


@pytest.mark.parametrize("policy", ["FAIL_CLOSED", "FAIL_OPEN"])
def test_a_trap_fails_the_request_then_the_policy_decides(replay: Replay, policy: str) -> None:
    trapped, after = replay((HttpRequest(path="/trap"), UPSTREAM),
                            (HttpRequest(path="/hello"), UPSTREAM), failure_policy=policy)
    assert (trapped.status, trapped.body, trapped.upstream_request) == (503, b"", None)
    assert [name for name, _ in trapped.headers] == ["date", "server", "content-length"]
    assert not any(line.message.startswith("cb log") for line in trapped.logs)
    assert after.logs == []  # the VM is dead: the filter is never called again
    if policy == "FAIL_OPEN":
        assert after.status == 200 and after.upstream_request is not None
        assert after.header("x-probe") is None
    else:
        assert (after.status, after.upstream_request) == (503, None)


def test_request_body_arrives_then_its_end(probe_wasm: Path) -> None:
    # Harness only, not pinned in Envoy yet: assumed to follow the HTTP/1 codec as the
    # response body does.
    request = HttpRequest(method="POST", path="/hello", body=b"xyz")
    [verdict] = replay_module(probe_wasm, _traffic((request, UPSTREAM)))
    messages = _messages(verdict)
    assert messages[messages.index("cb request_headers eos=0 n=7") + 8:][:2] == [
        "cb request_body eos=0 n=3", "cb request_body eos=1 n=0"]
    assert verdict.upstream_request is not None and verdict.upstream_request.body == b"xyz"
    assert verdict.header("connection") is None

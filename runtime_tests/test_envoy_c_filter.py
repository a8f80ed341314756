"""The raw-ABI C filter in a real Envoy on loopback: replay its traffic, and process hygiene."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meshwasm.deploy.envoy.config import EnvoyOptions
from meshwasm.deploy.envoy.process import EnvoyError, start_envoy
from meshwasm.deploy.envoy.replay import replay_in_envoy
from meshwasm.deploy.envoy.upstream import run_upstream
from meshwasm.replay.model import (
    Exchange,
    Expectation,
    HttpRequest,
    Traffic,
    UpstreamResponse,
    Verdict,
)

pytestmark = pytest.mark.envoy

TRAFFIC = Path(__file__).resolve().parent / "other_sdk" / "hello_c.traffic.yaml"


def hello_c_traffic() -> Traffic:
    """hello_c.traffic.yaml, through the loader once it exists (the same data otherwise)."""
    try:
        from meshwasm.replay.traffic import load_traffic  # type: ignore[import-not-found]
    except ImportError:
        return Traffic(TRAFFIC, b"c-config-value", [
            Exchange("allowed", HttpRequest(path="/hello", headers=[("x-user", "alice")]),
                     UpstreamResponse(200, [("content-type", "text/plain")],
                                      b"hello from upstream"), Expectation()),
            Exchange("denied", HttpRequest(path="/deny"), UpstreamResponse(), Expectation()),
        ])
    return load_traffic(TRAFFIC)


def envoy_children() -> list[int]:
    """Pids of live (not zombie-reaped) Envoy processes whose parent is this test process."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        parent = int(stat[stat.rindex(")") + 2:].split()[1])
        if parent == os.getpid() and name == "envoy":
            pids.append(int(entry.name))
    return pids


def _assert_allowed(verdict: Verdict) -> None:
    assert verdict.status == 200
    assert verdict.header("x-c-filter") == "on"
    assert verdict.header("x-c-config") == "c-config-value"
    assert verdict.header("content-type") == "text/plain"
    assert verdict.body == b"hello from upstream"
    assert [(line.level, line.message) for line in verdict.logs] == [
        ("info", "c filter saw /hello")]
    upstream = verdict.upstream_request
    assert upstream is not None
    assert (upstream.method, upstream.path, upstream.authority) == ("GET", "/hello", "example.com")
    assert ("x-user", "alice") in upstream.headers


def _assert_denied(verdict: Verdict) -> None:
    assert verdict.status == 403
    assert verdict.body == b"denied by c filter"
    assert verdict.upstream_request is None
    # Envoy runs the same filter's on_response_headers for its own local reply
    assert verdict.header("x-c-filter") == "on"
    assert verdict.header("x-c-config") == "c-config-value"
    assert verdict.header("content-type") == "text/plain"
    assert [(line.level, line.message) for line in verdict.logs] == [
        ("info", "c filter saw /deny")]


def test_hello_c_traffic_replays_in_envoy(c_filter_wasm: Path) -> None:
    traffic = hello_c_traffic()
    allowed, denied = replay_in_envoy(c_filter_wasm, traffic)
    _assert_allowed(allowed)
    _assert_denied(denied)
    assert envoy_children() == []


def test_logs_stay_with_their_exchange_on_several_workers(c_filter_wasm: Path) -> None:
    base = hello_c_traffic()
    exchanges = [base.exchanges[i % 2] for i in range(8)]
    verdicts = replay_in_envoy(c_filter_wasm, Traffic(base.path, base.plugin_config, exchanges),
                               workers=2)
    for verdict in verdicts[0::2]:
        _assert_allowed(verdict)
    for verdict in verdicts[1::2]:
        _assert_denied(verdict)


def _refusal(tmp_path: Path) -> str:
    """The EnvoyError of starting Envoy with a file that is not Wasm."""
    not_wasm = tmp_path / "not_wasm.wasm"
    not_wasm.write_bytes(b"this is not a wasm module\n")
    with run_upstream() as upstream:
        options = EnvoyOptions(upstream_port=upstream.port, module=not_wasm)
        with pytest.raises(EnvoyError) as raised:
            with start_envoy(options, ready_timeout=20):
                pytest.fail("Envoy must not become ready with a broken module")
    assert envoy_children() == []
    return str(raised.value)


def test_a_module_envoy_rejects_is_a_clear_error(tmp_path: Path) -> None:
    message = _refusal(tmp_path)
    # refused before Envoy starts, by the same check the harness makes
    assert message.startswith("Envoy would refuse the module: ")
    assert "not a valid Wasm module" in message


def test_envoy_itself_rejects_a_broken_module_with_its_reasons(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import meshwasm.deploy.envoy.process as envoy_process
    monkeypatch.setattr(envoy_process, "_refuse_what_envoy_refuses", lambda module: None)
    message = _refusal(tmp_path)
    assert "exited with code" in message
    # Envoy's error lines name the cause; its trace log is not pasted after them
    assert "Unable to create Wasm plugin" in message and "log tail" not in message


def test_envoy_is_stopped_when_the_block_raises(c_filter_wasm: Path) -> None:
    with run_upstream() as upstream:
        options = EnvoyOptions(upstream_port=upstream.port, module=c_filter_wasm)
        with pytest.raises(RuntimeError, match="boom"):
            with start_envoy(options) as envoy:
                pid = envoy.pid
                assert envoy.admin("/ready").strip() == "LIVE"
                assert envoy.ready_seconds > 0 and envoy.listener_port > 0
                raise RuntimeError("boom")
    assert envoy.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert envoy_children() == []


def test_envoy_starts_without_a_module() -> None:
    with run_upstream(UpstreamResponse(body=b"plain")) as upstream:
        with start_envoy(EnvoyOptions(upstream_port=upstream.port)) as envoy:
            assert envoy.ready_seconds > 0
    assert envoy_children() == []

"""Captured traffic as traffic files: a browser's HAR, an Istio JSON access log, and tap
traces that ``meshwasm record`` takes from a real Envoy, each replayed without edits
(runtime_tests/capture/)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from meshwasm.builder.pipeline import build_filter
from meshwasm.cli import main
from meshwasm.deploy.envoy.config import free_port
from meshwasm.deploy.envoy.replay import exchange_request
from meshwasm.replay.model import HttpRequest

from .conftest import PROJECT, RUNTIME_TESTS

CAPTURES = RUNTIME_TESTS / "capture"
HAR = CAPTURES / "browser_session.har"
ACCESS_LOG = CAPTURES / "istio_access.log"


@pytest.fixture(scope="module")
def hello_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("capture") / "hello.wasm"
    return build_filter(PROJECT / "examples" / "hello" / "filter.py", out).output


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def _import(tmp_path: Path, *args: str) -> dict[str, object]:
    out = tmp_path / "imported.yaml"
    code, output = _cli("import", *args, "-o", str(out))
    assert code == 0, output
    document = yaml.safe_load(out.read_text())
    assert isinstance(document, dict)
    return document


def _requests(document: dict[str, object]) -> list[dict[str, object]]:
    requests = document["requests"]
    assert isinstance(requests, list)
    return requests


# -- HAR -------------------------------------------------------------------------------------
def test_a_browser_har_becomes_requests_with_secrets_redacted(tmp_path: Path) -> None:
    entries = _requests(_import(tmp_path, str(HAR), "--expect"))
    assert [(e["request"]["method"], e["request"]["path"]) for e in entries] == [  # type: ignore[index]
        ("GET", "/"), ("POST", "/api/orders?draft=1"), ("GET", "/admin/users"),
        ("GET", "/favicon.ico")]
    first, post, admin, aborted = entries
    assert first["request"]["headers"]["cookie"] == "REDACTED"  # type: ignore[index]
    assert first["request"]["authority"] == "127.0.0.1:10000"  # type: ignore[index]
    assert not {"host", "connection"} & set(first["request"]["headers"])  # type: ignore[index]
    assert post["request"]["headers"]["authorization"] == "REDACTED"  # type: ignore[index]
    assert post["request"]["body"] == '{"item":"tea","quantity":2}'  # type: ignore[index]
    # the HAR body is decoded: its content-encoding must not be replayed
    assert "content-encoding" not in post["upstream"]["headers"]  # type: ignore[index]
    assert post["upstream"]["headers"]["set-cookie"] == "REDACTED"  # type: ignore[index]
    assert post["expect"] == {"status": 201, "headers": {"content-type": "application/json"},
                              "body": '{"id":7,"state":"new"}'}
    assert admin["expect"]["status"] == 403  # type: ignore[index]
    assert "expect" not in aborted and "upstream" not in aborted  # status 0: no answer


def test_keep_secrets_and_timing(tmp_path: Path) -> None:
    entries = _requests(_import(tmp_path, str(HAR), "--keep-secrets", "--keep-timing"))
    assert [e["at"] for e in entries] == ["0ms", "84ms", "417ms", "1885ms"]  # time order
    assert entries[2]["request"]["headers"]["authorization"].startswith("Bearer ")  # type: ignore[index]
    assert all("expect" not in e for e in entries)


def test_the_imported_har_replays_without_edits(hello_wasm: Path, tmp_path: Path) -> None:
    out = tmp_path / "session.traffic.yaml"
    assert _cli("import", str(HAR), "--expect", "-o", str(out))[0] == 0
    code, output = _cli("replay", str(hello_wasm), str(out))
    assert code == 0, output
    assert "4 requests: 4 as expected" in output


# -- access logs -----------------------------------------------------------------------------
def test_an_access_log_gives_requests_only(hello_wasm: Path, tmp_path: Path) -> None:
    out = tmp_path / "log.traffic.yaml"
    code, output = _cli("import", str(ACCESS_LOG), "--expect", "-o", str(out))
    assert code == 0, output
    assert "records no responses" in output
    entries = _requests(yaml.safe_load(out.read_text()))
    assert [(e["request"]["method"], e["request"]["path"], e["request"]["authority"])  # type: ignore[index]
            for e in entries] == [("GET", "/productpage", "productpage:9080"),
                                  ("GET", "/admin/stats", "productpage:9080"),
                                  ("HEAD", "/healthz", "example.com")]
    assert entries[1]["request"]["headers"] == {"user-agent": "curl/8.5.0",  # type: ignore[index]
                                                "x-forwarded-for": "10.1.2.3"}
    assert all("expect" not in e and "upstream" not in e for e in entries)
    code, output = _cli("replay", str(hello_wasm), str(out))
    assert code == 0, output


# -- bad captures ----------------------------------------------------------------------------
def _bad(tmp_path: Path, name: str, text: str, *options: str) -> str:
    capture = tmp_path / name
    capture.write_text(text)
    out = tmp_path / "never.yaml"
    code, output = _cli("import", str(capture), *options, "-o", str(out))
    assert code == 2, output
    assert not out.exists()
    assert "Traceback" not in output
    return output


def test_a_truncated_har_names_where_it_stops(tmp_path: Path) -> None:
    text = HAR.read_text()
    output = _bad(tmp_path, "cut.har", text[: len(text) // 2])
    assert "cut.har" in output and "truncated" in output


def test_a_har_entry_with_a_bad_field_is_named(tmp_path: Path) -> None:
    text = HAR.read_text().replace('"url": "http://127.0.0.1:10000/admin/users"', '"url": 7')
    output = _bad(tmp_path, "odd.har", text)
    assert "log.entries[2].request.url: expected str" in output


def test_a_truncated_access_log_line_is_named(tmp_path: Path) -> None:
    lines = ACCESS_LOG.read_text().splitlines()
    output = _bad(tmp_path, "cut.log", "\n".join([lines[0], lines[1][:80]]) + "\n")
    assert "cut.log: line 2" in output and "truncated" in output


def test_a_tap_trace_with_a_truncated_body_is_refused(tmp_path: Path) -> None:
    trace = ('{"http_buffered_trace": {"request": {"headers": [{"key": ":method", "value": '
             '"POST"}, {"key": ":path", "value": "/x"}], "body": {"as_string": "abc", '
             '"truncated": true}}}}')
    output = _bad(tmp_path, "tap_1.json", trace)
    assert "tap_1.json: http_buffered_trace.request.body: truncated by the tap" in output


# -- record ----------------------------------------------------------------------------------
def _wait_for(path: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        if process.poll() is not None:
            raise AssertionError(f"record exited early:\n{path.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} within {timeout}s:\n{path.read_text()}")


@pytest.mark.envoy
def test_recorded_tap_traces_replay_without_edits(hello_wasm: Path, tmp_path: Path) -> None:
    port, log, out = free_port(), tmp_path / "record.log", tmp_path / "recorded.yaml"
    traces = tmp_path / "traces"
    requests = [HttpRequest(path="/orders", authority="shop.example",
                            headers=[("authorization", "Bearer abc")]),
                HttpRequest(method="POST", path="/post", body=b"hello body",
                            headers=[("content-type", "text/plain")]),
                HttpRequest(path="/admin/x")]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "meshwasm", "record", str(hello_wasm), "-o", str(out),
             "--listen", str(port), "--requests", str(len(requests)), "--expect",
             "--traces", str(traces)],
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(log, "recording on", process, timeout=60)
        statuses = [exchange_request(port, request)[0] for request in requests]
        assert statuses == [200, 200, 403]
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    entries = _requests(yaml.safe_load(out.read_text()))
    assert [e["request"]["path"] for e in entries] == ["/orders", "/post", "/admin/x"]  # type: ignore[index]
    assert entries[0]["request"]["headers"]["authorization"] == "REDACTED"  # type: ignore[index]
    assert entries[2]["expect"]["upstream_reached"] is False  # type: ignore[index]
    assert "upstream" not in entries[2]
    for engine in ("harness", "envoy"):
        code, output = _cli("replay", "--engine", engine, str(hello_wasm), str(out))
        assert code == 0, output
        assert "3 requests: 3 as expected" in output
    assert _import(tmp_path, str(traces), "--expect") == yaml.safe_load(out.read_text())
    clients = sorted(str(p) for p in traces.glob("client_*.json"))
    upstream = [arg for p in traces.glob("upstream_*.json") for arg in ("--upstream-tap", str(p))]
    reimported = _requests(_import(tmp_path, *clients, *upstream, "--expect"))
    assert sorted(e["request"]["path"] for e in reimported) == ["/admin/x", "/orders", "/post"]  # type: ignore[index]

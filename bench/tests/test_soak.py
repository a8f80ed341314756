"""The soak's parts without a long run: its traffic, its response parser, its two clients
against a scripted loopback server (answers, ``connection: close``, dropped connections), the
Envoy configuration it soaks, and one short soak in Envoy where both clients must agree."""

from __future__ import annotations

import argparse
import socket
import socketserver
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))
import soak  # noqa: E402
import soak_client  # noqa: E402
import soak_traffic  # noqa: E402
from soak_client import NO_ANSWER, UNSENDABLE, parse_response  # noqa: E402
from soak_traffic import Request, TargetLoad  # noqa: E402

# -- the response parser -------------------------------------------------------------------------


def test_parse_response_frames_by_content_length_and_waits_for_the_body() -> None:
    wire = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 5\r\n\r\nnope!HTTP/1.1 200 OK\r\n"
    response = parse_response(bytearray(wire))
    assert response is not None
    assert (response.status, response.close, response.size) == (401, False, wire.index(b"!") + 1)
    assert parse_response(bytearray(wire[:wire.index(b"!")])) is None  # body incomplete
    assert parse_response(bytearray(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n")) is None


def test_parse_response_reads_chunked_bodies_with_and_without_trailers() -> None:
    plain = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    trailed = (b"HTTP/1.1 503 x\r\ntransfer-encoding: chunked\r\nConnection: close\r\n\r\n"
               b"2;ext=1\r\nhi\r\n0\r\ngrpc-status: 2\r\n\r\n")
    for wire, status, close in ((plain, 200, False), (trailed, 503, True)):
        response = parse_response(bytearray(wire + b"HTTP/1.1 200"))
        assert response is not None
        assert (response.status, response.close, response.size) == (status, close, len(wire))
        assert parse_response(bytearray(wire[:-2])) is None
    no_content = parse_response(bytearray(b"HTTP/1.1 204 No Content\r\ncontent-length: 9\r\n\r\n"))
    assert no_content is not None and no_content.size == 46


# -- the traffic ---------------------------------------------------------------------------------


def test_a_seed_gives_the_same_stream_and_the_hostile_share_holds() -> None:
    load = soak_traffic.target_loads()["rate_limit"]
    first = list(soak_traffic.requests(load, 7, 2000, 0.25))
    assert first == list(soak_traffic.requests(load, 7, 2000, 0.25))
    assert first != list(soak_traffic.requests(load, 8, 2000, 0.25))
    hostile = sum(request.kind == "hostile" for request in first)
    assert 400 < hostile < 600
    assert soak_traffic.client_shares(10, 3) == [4, 3, 3]


def test_encode_sends_utf8_and_refuses_line_breaks() -> None:
    request = Request("hostile", "/soak/1", [("x-user", "é 503 ")])
    assert soak_traffic.encode(request, "127.0.0.1:80") == (
        "GET /soak/1 HTTP/1.1\r\nHost: 127.0.0.1:80\r\nx-user: é 503 \r\n\r\n".encode())
    assert soak_traffic.encode(Request("hostile", "/", [("x", "a\r\nb: c")]), "h") is None


def test_the_chain_target_configures_the_three_filters_in_chain_order() -> None:
    chain = soak_traffic.target_loads()[soak_traffic.CHAIN_TARGET]
    assert tuple(chain.configs) == soak_traffic.CHAIN
    rate_key = chain.configs["rate_limit"]["limits"][0]["key"]
    assert rate_key == {"header": soak_traffic.SUBJECT_HEADER}
    hostile = list(soak_traffic.requests(chain, 3, 600, 1.0))
    forged = [r for r in hostile if any(n == soak_traffic.SUBJECT_HEADER for n, _ in r.headers)]
    assert forged, "no hostile request forged the header jwt_authn writes"
    assert all(r.headers[0][0] == "authorization" for r in forged)  # with a valid token


def test_target_bootstrap_answers_directly_behind_the_chain_with_2_workers(
        tmp_path: Path) -> None:
    loads = soak_traffic.target_loads()
    modules = {name: tmp_path / f"{name}.wasm" for name in soak_traffic.CHAIN}
    options, config = soak.target_bootstrap(soak_traffic.CHAIN_TARGET, modules,
                                            loads[soak_traffic.CHAIN_TARGET])
    assert options.workers == 2
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"]
    assert hcm["stream_idle_timeout"] == "0.25s"
    wasm = [f["typed_config"]["config"] for f in hcm["http_filters"][:-1]]
    assert [w["name"] for w in wasm] == list(soak_traffic.CHAIN)
    assert [w["vm_config"]["code"]["local"]["filename"] for w in wasm] == [
        str(modules[name].resolve()) for name in soak_traffic.CHAIN]
    route = hcm["route_config"]["virtual_hosts"][0]["routes"][0]
    assert route["direct_response"]["status"] == 200 and "route" not in route


# -- the clients against a scripted server -------------------------------------------------------


class _ScriptedHandler(socketserver.StreamRequestHandler):
    """Answers each request with the status in its ``x-status`` header; ``x-then: close``
    answers with ``connection: close`` and closes, ``x-then: drop`` closes without answer."""

    def handle(self) -> None:
        while True:
            head = []
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                head.append(line.decode("utf-8").strip())
            if not head:
                return
            fields = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
            then = fields.get("x-then", "")
            if then == "drop":
                return
            status = fields.get("x-status", "200")
            body = b"" if status == "204" else b"ok"
            close = "connection: close\r\n" if then == "close" else ""
            head_out = (f"HTTP/1.1 {status} X\r\n"
                        f"content-length: {len(body)}\r\n{close}\r\n")
            self.wfile.write(head_out.encode() + body)
            if then == "close":
                return


@contextmanager
def scripted_server() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _ScriptedHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _scripted_load() -> TargetLoad:
    """Benign: 200 or 204 (and now and then a close); hostile: 4xx/5xx, dropped connections,
    and a header no client may send."""
    def benign(rng: object) -> list[tuple[str, str]]:
        draw = rng.random()  # type: ignore[attr-defined]
        if draw < 0.1:
            return [("x-status", "200"), ("x-then", "close")]
        return [("x-status", "204" if draw < 0.3 else "200")]

    def hostile(rng: object) -> list[tuple[str, str]]:
        draw = rng.random()  # type: ignore[attr-defined]
        if draw < 0.1:
            return [("x-then", "drop")]
        if draw < 0.15:
            return [("x-bad", "a\nb")]
        return [("x-status", "401" if draw < 0.6 else "503")]
    return TargetLoad({}, benign, hostile)


def _expected(load: TargetLoad, total: int, share: float, seed: int,
              clients: int) -> soak_client.Tally:
    expected: soak_client.Tally = Counter()
    for i, count in enumerate(soak_traffic.client_shares(total, clients)):
        for request in soak_traffic.requests(load, seed * 1000 + i, count, share):
            fields = dict(request.headers)
            status = (UNSENDABLE if "x-bad" in fields else NO_ANSWER
                      if fields.get("x-then") == "drop" else int(fields.get("x-status", 200)))
            expected[(request.kind, status)] += 1
    return expected


def test_both_clients_give_each_request_exactly_the_status_the_server_gave() -> None:
    load, total, share = _scripted_load(), 1500, 0.3
    seen: list[int] = []
    with scripted_server() as port:
        fast = soak_client.run_fast(port, load, total, share, seed=5, processes=2,
                                    connections=4, on_progress=seen.append)
        simple = soak_client.run_simple(port, load, total, share, seed=5, threads=2,
                                        on_progress=lambda answered: None)
    expected = _expected(load, total, share, 5, 2)
    assert {status for _, status in expected} >= {200, 204, 401, 503, NO_ANSWER, UNSENDABLE}
    assert fast == expected
    assert simple == expected
    assert seen and seen[-1] == total and seen == sorted(seen)


def test_a_server_that_never_answers_costs_no_answer_after_the_stall_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(soak_client, "STALL_SECONDS", 0.3)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        silent.listen(16)
        port = silent.getsockname()[1]
        client = soak_client._KeepAliveClient(
            port, iter([Request("benign", "/", [])] * 3), connections=2,
            progress=lambda answered: None)
        assert client.run() == Counter({("benign", NO_ANSWER): 3})


def test_a_server_that_is_gone_costs_no_answer_for_every_request_and_the_run_ends() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]  # closed when the block ends: connections are refused
    load = _scripted_load()
    tally = soak_client.run_fast(port, load, 300, 0.3, seed=2, processes=2, connections=3,
                                 on_progress=lambda answered: None)
    expected = _expected(load, 300, 0.3, 2, 2)
    assert sum(tally.values()) == 300
    assert tally[("hostile", UNSENDABLE)] == expected[("hostile", UNSENDABLE)] > 0
    assert tally[("benign", NO_ANSWER)] == sum(c for (k, _), c in expected.items()
                                               if k == "benign")


# -- a short soak in Envoy ------------------------------------------------------------------------


@pytest.mark.envoy
@pytest.mark.slow
def test_a_short_soak_gets_the_same_statuses_from_both_clients(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from meshwasm.builder.pipeline import build_filter

    module = build_filter(soak.PROJECT / "filters" / "jwt_authn" / "filter.py",
                          tmp_path / "jwt_authn.wasm").output
    load = soak_traffic.target_loads()["jwt_authn"]
    results = {}
    for client in ("fast", "simple"):
        args = argparse.Namespace(requests=600, hostile_share=0.3, seed=4, client=client,
                                  processes=2, connections=4, sample_every=200)
        results[client] = soak.soak_one("jwt_authn", {"jwt_authn": module}, load, args)
    fast, simple = results["fast"], results["simple"]
    assert fast["statuses"] == simple["statuses"]
    assert fast["statuses"]["hostile 401"] == fast["hostile"] > 100
    assert fast["statuses"]["benign 200"] == 600 - fast["hostile"]
    assert fast["envoy_alive_at_end"] and fast["vm_failure_lines"] == 0
    assert [sent for sent, _ in fast["rss_kib"]][0] == 0 and len(fast["rss_kib"]) >= 3
    assert fast["wasm_stats"]["wasm.meshwasm.vm_reload"] == 0

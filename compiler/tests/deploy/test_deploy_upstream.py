"""Unit tests for the scripted upstream (no Envoy)."""

from __future__ import annotations

import http.client

from meshwasm.deploy.envoy.upstream import run_upstream
from meshwasm.replay.model import UpstreamResponse


def _request(port: int, method: str, path: str, headers: dict[str, str],
             body: bytes | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def test_scripted_response_and_recorded_request() -> None:
    with run_upstream() as upstream:
        upstream.respond_with(UpstreamResponse(201, [("X-Up", "1")], b"made"))
        status, headers, body = _request(upstream.port, "POST", "/things?a=1",
                                         {"Host": "h.example", "X-Trace": "t"}, b"payload")
        assert (status, body) == (201, b"made")
        assert ("X-Up", "1") in headers and ("content-length", "4") in headers
        assert not any(name.lower() in ("server", "date") for name, _ in headers)
        [seen] = upstream.received
        assert (seen.method, seen.path, seen.authority, seen.body) == (
            "POST", "/things?a=1", "h.example", b"payload")
        assert ("x-trace", "t") in seen.headers


def test_chunked_request_body() -> None:
    with run_upstream(UpstreamResponse(body=b"ok")) as upstream:
        connection = http.client.HTTPConnection("127.0.0.1", upstream.port, timeout=5)
        connection.request("PUT", "/", body=iter([b"ab", b"cde"]), encode_chunked=True)
        assert connection.getresponse().read() == b"ok"
        connection.close()
        assert upstream.received[0].body == b"abcde"


def test_server_is_stopped_after_the_block() -> None:
    with run_upstream() as upstream:
        port = upstream.port
    try:
        _request(port, "GET", "/", {})
    except OSError:
        return
    raise AssertionError("upstream still answers after the with block")

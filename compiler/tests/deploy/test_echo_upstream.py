"""The echo upstream of ``meshwasm run`` / ``dev --envoy`` reports what reached it, body
included, however it was framed."""

from __future__ import annotations

import base64
import http.client
import json

from meshwasm.deploy.envoy.echo_upstream import run_echo_upstream


def _echo(port: int, body: bytes | None, headers: dict[str, str],
          chunks: list[bytes] | None = None) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        if chunks is None:
            connection.request("POST", "/echo?q=1", body=body, headers=headers)
        else:
            connection.putrequest("POST", "/chunked")
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.putheader("transfer-encoding", "chunked")
            connection.endheaders()
            for chunk in chunks:
                connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            connection.send(b"0\r\nx-checksum: 42\r\n\r\n")
        response = connection.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        connection.close()


def test_path_headers_and_body_are_reported() -> None:
    with run_echo_upstream() as port:
        report = _echo(port, b'{"user": "alice"}', {"x-user": "alice"})
    assert report["path"] == "/echo?q=1" and report["method"] == "POST"
    assert report["headers"]["x-user"] == "alice"
    assert report["body"] == '{"user": "alice"}' and report["body_bytes"] == 17
    assert "trailers" not in report


def test_a_chunked_body_is_reassembled_with_its_trailers() -> None:
    with run_echo_upstream() as port:
        report = _echo(port, None, {}, chunks=[b"hello ", b"chunked ", b"world"])
    assert report["body"] == "hello chunked world" and report["body_bytes"] == 19
    assert report["trailers"] == {"x-checksum": "42"}
    assert report["headers"]["transfer-encoding"] == "chunked"


def test_a_binary_body_comes_as_base64() -> None:
    with run_echo_upstream() as port:
        report = _echo(port, b"\xff\x00\xfe", {})
    assert "body" not in report
    assert base64.b64decode(report["body_base64"]) == b"\xff\x00\xfe"

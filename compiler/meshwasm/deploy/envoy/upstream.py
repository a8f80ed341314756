"""A scripted HTTP/1.1 upstream on loopback that records what reached it.

The caller sets the next response with ``respond_with``; every request is recorded as an
``HttpRequest`` (header names lower-cased, order kept, ``host`` becomes ``authority``).  A
response's ``delay_ms`` (at most 10 s) makes it wait before answering, ``reset`` closes the
connection with a TCP reset instead of answering (http_call clusters of a traffic file).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from meshwasm.deploy.envoy.config import LOOPBACK
from meshwasm.replay.model import Headers, HttpRequest, UpstreamResponse

_MAX_DELAY_MS = 10_000
_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT")


class ScriptedUpstream:
    """State shared by the server thread and the caller; use through ``run_upstream``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._response = UpstreamResponse()
        self._received: list[HttpRequest] = []
        self.port = 0

    def respond_with(self, response: UpstreamResponse) -> None:
        """Answer every following request with ``response`` (until set again)."""
        with self._lock:
            self._response = response

    @property
    def received(self) -> list[HttpRequest]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._received)

    def _record(self, request: HttpRequest) -> UpstreamResponse:
        with self._lock:
            self._received.append(request)
            return self._response


class _Lines(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


def read_body(handler: BaseHTTPRequestHandler) -> tuple[bytes, Headers]:
    """The request body (content-length or chunked) and its trailers (lower-cased names)."""
    if "chunked" in handler.headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return b"".join(chunks), read_trailers(handler.rfile)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("content-length") or 0)
    return (handler.rfile.read(length) if length else b""), []


def read_trailers(stream: _Lines) -> Headers:
    """The trailer lines after a chunked body's last chunk, up to the empty line."""
    trailers = []
    while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        trailers.append((name.strip().lower(), value.strip()))
    return trailers


def chunked(body: bytes, trailers: Headers) -> bytes:
    """``body`` as one HTTP/1 chunk (none if empty), the last chunk, then ``trailers``."""
    data = f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b""
    lines = "".join(f"{name}: {value}\r\n" for name, value in trailers)
    return data + b"0\r\n" + lines.encode("latin-1") + b"\r\n"


def _handler_class(upstream: ScriptedUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10  # an idle kept-alive connection does not pin a thread forever
        # Headers and body go out in separate writes; with Nagle on, the body waits for
        # Envoy's delayed ACK (~40 ms a request).
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            headers = [(name.lower(), value) for name, value in self.headers.items()]
            authority = next((value for name, value in headers if name == "host"), "")
            body, trailers = read_body(self)
            request = HttpRequest(
                method=self.command,
                path=self.path,
                authority=authority,
                headers=[(n, v) for n, v in headers if n != "host"],
                body=body,
                trailers=trailers,
            )
            response = upstream._record(request)
            if response.delay_ms:  # an http_call cluster answering late (bounded)
                time.sleep(min(response.delay_ms, _MAX_DELAY_MS) / 1000)
            if response.reset:  # close with RST, no response
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.close_connection = True
                return
            try:
                self._answer(response)
            except ConnectionError:  # Envoy gave up (an http_call timed out)
                self.close_connection = True

        def _answer(self, response: UpstreamResponse) -> None:
            # send_response_only: no Server/Date of our own, the scripted headers only
            self.send_response_only(response.status)
            names = {name.lower() for name, _ in response.headers}
            for name, value in response.headers:
                self.send_header(name, value)
            if response.trailers:  # HTTP/1 trailers follow a chunked body
                self.send_header("transfer-encoding", "chunked")
            elif "content-length" not in names and "transfer-encoding" not in names:
                self.send_header("content-length", str(len(response.body)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if response.trailers:
                self.wfile.write(chunked(response.body, response.trailers))
            else:
                self.wfile.write(response.body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep test output quiet

    for method in _METHODS:
        setattr(Handler, f"do_{method}", Handler._serve)
    return Handler


@contextmanager
def run_upstream(initial: UpstreamResponse | None = None) -> Iterator[ScriptedUpstream]:
    """Serve on 127.0.0.1 (ephemeral port, see ``.port``) until the ``with`` block ends."""
    upstream = ScriptedUpstream()
    if initial is not None:
        upstream.respond_with(initial)
    server = ThreadingHTTPServer((LOOPBACK, 0), _handler_class(upstream))
    server.daemon_threads = True
    upstream.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="meshwasm-upstream", daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

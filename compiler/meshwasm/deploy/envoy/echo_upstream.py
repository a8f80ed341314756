"""A tiny echo upstream on loopback for ``meshwasm run`` and ``meshwasm dev --envoy``.

Every request is answered 200 with a JSON body describing what arrived: method, path, headers
as the upstream saw them, the body (``body`` as text when it is UTF-8, else ``body_base64``;
a chunked body is reassembled) and its size, and any trailers, so the effect of a filter on
requests is visible with curl.  Nothing is recorded: it can run for hours.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from meshwasm.deploy.envoy.config import LOOPBACK
from meshwasm.deploy.envoy.upstream import read_body

_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")


class _EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    # Headers and body go out in separate writes; with Nagle on, the body waits for the
    # client's delayed ACK (~45 ms per keep-alive request, measured).
    disable_nagle_algorithm = True

    def _echo(self) -> None:
        body, trailers = read_body(self)
        report: dict[str, object] = {
            "method": self.command, "path": self.path,
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "body_bytes": len(body),
        }
        try:
            report["body"] = body.decode()
        except UnicodeDecodeError:
            report["body_base64"] = base64.b64encode(body).decode()
        if trailers:
            report["trailers"] = dict(trailers)
        answer = json.dumps(report, indent=2).encode() + b"\n"
        self.send_response_only(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


for _method in _METHODS:
    setattr(_EchoHandler, f"do_{_method}", _EchoHandler._echo)


@contextmanager
def run_echo_upstream(port: int = 0) -> Iterator[int]:
    """Serve on 127.0.0.1:``port`` (0: ephemeral) until the block ends; yields the port."""
    server = ThreadingHTTPServer((LOOPBACK, port), _EchoHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="meshwasm-echo", daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

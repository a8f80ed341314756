"""Remote JWKS in Envoy: streams that need the keys while a fetch is in flight share it.

Eight requests arrive together at a worker with no keys yet; the JWKS cluster answers after
a delay.  Envoy's jwt_authn would make one fetch for them; so must ours: the JWKS upstream
sees one request from the worker's VM (the 1 s refresh tick, if it fires first, starts the
same shared fetch) — plus the refresh of the VM on Envoy's main thread — and every request
passes once the keys are in.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from meshwasm.deploy.envoy.config import LOOPBACK, EnvoyOptions
from meshwasm.deploy.envoy.process import start_envoy
from meshwasm.deploy.envoy.replay import send_request
from meshwasm.deploy.envoy.upstream import run_upstream
from meshwasm.replay.model import HttpRequest

from .tokens import KeySet, make_token

STREAMS = 8
CONFIG = {"providers": {"remote": {
    "issuer": "https://issuer.example",
    "remote_jwks": {"http_uri": {"uri": "http://jwks.example/keys", "cluster": "jwks",
                                 "timeout_ms": 5000}},
    "claim_to_headers": [{"header_name": "x-jwt-sub", "claim_name": "sub"}]}},
    "rules": [{"prefix": "/"}]}


@contextmanager
def slow_jwks(document: bytes, delay_s: float) -> Iterator[tuple[int, list[str]]]:
    """A loopback JWKS server answering ``document`` after ``delay_s``: (port, paths asked)."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            asked.append(self.path)
            time.sleep(delay_s)
            try:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(document)))
                self.end_headers()
                self.wfile.write(document)
            except OSError:
                pass  # Envoy stopped meanwhile (a refresh still in flight at the end)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.envoy
def test_waiting_streams_share_one_jwks_fetch(jwt_wasm: Path, test_keys: KeySet) -> None:
    claims = {"iss": "https://issuer.example", "exp": "+3600"}
    tokens = [make_token(test_keys, {"alg": "ES256", "kid": "ec1",
                                     "claims": {**claims, "sub": f"user{index}"}})
              for index in range(STREAMS)]
    document = json.dumps(test_keys.jwks()).encode()
    with run_upstream() as upstream, slow_jwks(document, 1.5) as (jwks_port, asked):
        options = EnvoyOptions(upstream_port=upstream.port, module=jwt_wasm,
                               plugin_config=json.dumps(CONFIG).encode(),
                               extra_clusters=(("jwks", jwks_port),))
        with start_envoy(options) as envoy, ThreadPoolExecutor(STREAMS) as pool:
            requests = [HttpRequest(path=f"/r{index}",
                                    headers=[("authorization", f"Bearer {token}")])
                        for index, token in enumerate(tokens)]
            answers = list(pool.map(lambda request: send_request(envoy.listener_port,
                                                                  request), requests))
        assert [status for status, _, _ in answers] == [200] * STREAMS
        # One fetch per VM at most: the worker's (shared by all eight streams) and the one
        # the main thread's VM makes from its own refresh tick.  A fetch per stream: 9.
        assert 1 <= len(asked) <= 2, asked
        subjects = {value for request in upstream.received for name, value in request.headers
                    if name == "x-jwt-sub"}
        assert subjects == {f"user{index}" for index in range(STREAMS)}

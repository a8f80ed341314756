"""The SDK is fully typed: mypy --strict passes on it and on the hello example, so editors
and type checkers help filter authors (PEP 561: sdk/proxy_wasm/py.typed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]


def test_sdk_and_example_pass_mypy_strict() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "sdk/proxy_wasm", "examples/hello/filter.py"],
        cwd=PROJECT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_py_typed_marker_ships_with_the_package() -> None:
    assert (PROJECT / "sdk" / "proxy_wasm" / "py.typed").exists()
    import proxy_wasm

    assert Path(proxy_wasm.__file__).with_name("py.typed").exists()

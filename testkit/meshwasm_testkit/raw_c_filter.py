"""Proxy-wasm filters written in plain C against the ABI (no SDK, no Python): they stand, in
tests and benchmarks, for the modules other SDKs build."""

from __future__ import annotations

from pathlib import Path

from meshwasm.builder.zig import zig_cc


def compile_raw_c_filter(source: Path, output: Path) -> Path:
    """Compile the C filter ``source`` into the proxy-wasm module ``output`` with zig."""
    output.parent.mkdir(parents=True, exist_ok=True)
    zig_cc(["-target", "wasm32-wasi", "-mexec-model=reactor", "-O2", "-s",
            "-o", str(output), str(source)])
    return output

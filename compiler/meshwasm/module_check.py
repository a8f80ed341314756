"""Is this a WebAssembly module Envoy could load?  Checked before a module is written (``pull``)
or handed to Envoy (``run``, ``envoy-config``), so a wrong file is refused with its name."""

from __future__ import annotations

from functools import lru_cache

import wasmtime

WASM_MAGIC = b"\0asm"


class NotAModuleError(ValueError):
    """The bytes are not a valid WebAssembly module; the message says why."""


@lru_cache(maxsize=1)
def _validating_engine() -> wasmtime.Engine:
    return wasmtime.Engine()  # default features, as the harness compiles with


def check_module(data: bytes, where: str) -> None:
    """Raise ``NotAModuleError`` naming ``where`` unless ``data`` is a valid Wasm module
    (magic, version and full validation: types, code, imports)."""
    if not data.startswith(WASM_MAGIC):
        raise NotAModuleError(f"{where}: not a WebAssembly module (no \\0asm magic)")
    try:
        wasmtime.Module.validate(_validating_engine(), data)
    except wasmtime.WasmtimeError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "invalid"
        raise NotAModuleError(f"{where}: not a valid WebAssembly module: {first_line}") from None

"""Build tiny proxy-wasm modules in WAT for engine tests (no C toolchain needed)."""

from __future__ import annotations

from pathlib import Path

import wasmtime

# Signatures of the exported callbacks: (params, has_result).
CALLBACKS = {
    "proxy_on_context_create": (2, False), "proxy_on_vm_start": (2, True),
    "proxy_on_configure": (2, True), "proxy_on_request_headers": (3, True),
    "proxy_on_request_body": (3, True), "proxy_on_response_headers": (3, True),
    "proxy_on_response_body": (3, True), "proxy_on_request_trailers": (2, True),
    "proxy_on_response_trailers": (2, True), "proxy_on_done": (1, True), "proxy_on_log": (1, False),
    "proxy_on_delete": (1, False), "main": (2, True),
}

LOG_IMPORT = '(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))'


class Wat:
    """Collects strings into a data segment; ``say`` logs one at info level."""

    def __init__(self) -> None:
        self._data = bytearray()

    def string(self, text: str | bytes) -> tuple[int, int]:
        raw = text.encode() if isinstance(text, str) else text
        offset = 1024 + len(self._data)
        self._data += raw
        return offset, len(raw)

    def say(self, text: str, level: int = 2) -> str:
        ptr, size = self.string(text)
        return f"(drop (call $log (i32.const {level}) (i32.const {ptr}) (i32.const {size})))"

    def module(self, body: dict[str, str], imports: tuple[str, ...] = (LOG_IMPORT,),
               extra: str = "", abi: str = "proxy_abi_version_0_2_1") -> bytes:
        """A module exporting ``body``'s callbacks (each returning 0 = Continue unless its
        body leaves a value), plus memory and an allocator."""
        funcs = []
        for name, code in body.items():
            params, result = CALLBACKS.get(name, (0, False))
            param_text = " ".join(f"(param $p{i} i32)" for i in range(params))
            result_text = "(result i32)" if result else ""
            tail = "" if not result or code.rstrip().endswith("<value>") else "(i32.const 0)"
            code = code.replace("<value>", "")
            funcs.append(f'(func (export "{name}") {param_text} {result_text} {code} {tail})')
        data = "".join(f"\\{b:02x}" for b in self._data)
        abi_export = f'(func (export "{abi}"))' if abi else ""
        text = f"""(module
          {' '.join(imports)}
          (memory (export "memory") 2)
          (global $heap (mut i32) (i32.const 65536))
          (data (i32.const 1024) "{data}")
          {abi_export}
          (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
            (local $p i32)
            (local.set $p (global.get $heap))
            (global.set $heap (i32.add (global.get $heap) (local.get $n)))
            (local.get $p))
          {' '.join(funcs)}
          {extra})"""
        return wasmtime.wat2wasm(text)


def write(tmp_path: Path, wasm: bytes, name: str = "filter.wasm") -> Path:
    path = tmp_path / name
    path.write_bytes(wasm)
    return path

"""What a proxy-wasm module says about itself: imports, exports, custom sections, build stamp.

Works for any module (other SDKs' too); the ``meshwasm.build`` stamp is there only for modules
meshwasm built.  Reads sections with ``meshwasm.builder.wasmbin``; code is never decoded.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from meshwasm.builder import wasmbin
from meshwasm.builder.stamp import SECTION_NAME, read_stamp

_VALUE_TYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128",
                0x70: "funcref", 0x6F: "externref"}
_KINDS = {wasmbin.EXTERNAL_FUNC: "func", wasmbin.EXTERNAL_TABLE: "table",
          wasmbin.EXTERNAL_MEMORY: "memory", wasmbin.EXTERNAL_GLOBAL: "global"}
#: the ABI version exports Envoy looks for, newest first
ABI_EXPORTS = ("proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0", "proxy_abi_version_0_1_0")


@dataclass(frozen=True)
class Import:
    module: str
    name: str
    kind: str
    signature: str = ""


@dataclass(frozen=True)
class Export:
    name: str
    kind: str
    signature: str = ""


@dataclass
class ModuleInfo:
    path: str
    size: int
    sha256: str
    abi_version: str | None
    imports: list[Import] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    custom_sections: list[str] = field(default_factory=list)
    build: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _signature(types: list[tuple[list[str], list[str]]], index: int) -> str:
    if not 0 <= index < len(types):
        return ""
    params, results = types[index]
    return f"({', '.join(params)}) -> ({', '.join(results)})"


def _types(payload: bytes) -> list[tuple[list[str], list[str]]]:
    return [([_VALUE_TYPES.get(byte, "?") for byte in params],
             [_VALUE_TYPES.get(byte, "?") for byte in results])
            for params, results in wasmbin.parse_types(payload)]


def _imports(payload: bytes, types: list[tuple[list[str], list[str]]]) -> list[Import]:
    reader = wasmbin.Reader(payload)
    found = []
    for _ in range(reader.u32()):
        module, name, kind = reader.name(), reader.name(), reader.byte()
        signature = ""
        if kind == wasmbin.EXTERNAL_FUNC:
            signature = _signature(types, reader.u32())
        elif kind == wasmbin.EXTERNAL_TABLE:
            reader.byte()
            wasmbin.read_limits(reader)
        elif kind == wasmbin.EXTERNAL_MEMORY:
            wasmbin.read_limits(reader)
        elif kind == wasmbin.EXTERNAL_GLOBAL:
            reader.byte()
            reader.byte()
        found.append(Import(module, name, _KINDS.get(kind, str(kind)), signature))
    return found


def read_module_info(path: Path) -> ModuleInfo:
    """Parse the module at ``path``; raises ``WasmFormatError`` naming the file if it is not one."""
    data = Path(path).read_bytes()
    try:
        sections = wasmbin.parse_sections(data)
        by_id: dict[int, bytes] = {}
        customs = []
        for section in sections:
            if section.id == wasmbin.SECTION_CUSTOM:
                customs.append(wasmbin.custom_section_name(section) or "")
            else:
                by_id[section.id] = section.payload
        types = _types(by_id[wasmbin.SECTION_TYPE]) if wasmbin.SECTION_TYPE in by_id else []
        imports = _imports(by_id[wasmbin.SECTION_IMPORT], types) \
            if wasmbin.SECTION_IMPORT in by_id else []
        function_types = wasmbin.parse_function_types(by_id.get(wasmbin.SECTION_FUNCTION, b"\0"))
        imported_funcs = [i for i in imports if i.kind == "func"]
        exports = []
        for export in wasmbin.parse_exports(by_id.get(wasmbin.SECTION_EXPORT, b"\0")):
            signature = ""
            if export.kind == wasmbin.EXTERNAL_FUNC:
                if export.index < len(imported_funcs):
                    signature = imported_funcs[export.index].signature
                else:
                    local = export.index - len(imported_funcs)
                    if local < len(function_types):
                        signature = _signature(types, function_types[local])
            exports.append(Export(export.name, _KINDS.get(export.kind, str(export.kind)),
                                  signature))
        build = read_stamp(data) if SECTION_NAME in customs else None
    except (wasmbin.WasmFormatError, ValueError, UnicodeDecodeError) as error:
        raise wasmbin.WasmFormatError(f"{path}: {error}") from None
    names = {export.name for export in exports}
    abi = next((n.removeprefix("proxy_abi_version_").replace("_", ".") for n in ABI_EXPORTS
                if n in names), None)
    return ModuleInfo(str(path), len(data), hashlib.sha256(data).hexdigest(), abi, imports,
                      exports, customs, build)

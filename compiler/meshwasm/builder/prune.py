"""Prune stage: drop code that a snapshotted module can never need.

Envoy's V8 compiles every function with its optimizing tier before a VM starts, so start
and reload time follow the module's code size.  After the snapshot the interpreter has
started and every module is compiled and imported; CPython's parser, compiler and AST
machinery (a quarter of the code) would only run for ``compile()``/``exec()``/``eval()`` of
a string at request time.  Their bodies are replaced, keeping every function index (the
snapshot's memory holds function-table indices), by a stub that raises ``RuntimeError`` in
Python (``meshwasm_compiler_unavailable``) and returns zero/NULL, the C API's error value.

Which function came from which object file is read from the linker's map.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from meshwasm.builder import wasmbin

UNAVAILABLE_EXPORT = "meshwasm_compiler_unavailable"
# libpython objects with the parser, compiler and AST; each is kept when a builtin module
# that uses it at run time is linked in.
PRUNABLE_OBJECTS: dict[str, str | None] = {
    "parser.o": None, "pegen.o": None, "pegen_errors.o": None, "action_helpers.o": None,
    "string_parser.o": None, "peg_api.o": None, "future.o": None, "ast_opt.o": None,
    "ast_unparse.o": None, "getpath.o": None,
    "tokenizer.o": "_tokenize", "compile.o": "_opcode", "symtable.o": "_symtable",
    "Python-ast.o": "_ast", "ast.o": "_ast",
}
# Single functions that only run while starting or finalizing the interpreter.
PRUNABLE_FUNCTIONS: frozenset[tuple[str, str]] = frozenset({
    ("deepfreeze.o", "_Py_Deepfreeze_Init"), ("deepfreeze.o", "_Py_Deepfreeze_Fini"),
})
_ZERO_CONST = {0x7F: b"\x41\x00", 0x7E: b"\x42\x00", 0x7D: b"\x43" + bytes(4),
               0x7C: b"\x44" + bytes(8)}


def prunable_objects(builtins: list[str]) -> set[str]:
    return {name for name, needed_by in PRUNABLE_OBJECTS.items()
            if needed_by is None or needed_by not in builtins}


@dataclass(frozen=True)
class MapFunction:
    """Where one function body came from, per the linker's map."""

    source: str  # the input file as the map names it: "x.o" or "/path/libc.a(member.o)"
    symbol: str

    @property
    def object(self) -> str:
        """The object file's name (an archive member's own name)."""
        member = re.search(r"\(([^()]+\.o)\)$", self.source)
        return member.group(1) if member else Path(self.source).name

    @property
    def archive(self) -> str | None:
        return Path(self.source.partition("(")[0]).name if "(" in self.source else None


def map_functions(map_text: str) -> list[MapFunction]:
    """Each function body's origin, in code-section order.

    (The map lists the CODE section's functions in output order; its offsets assume padded
    section sizes, so we rely on the order, checked against the body count.)"""
    functions: list[tuple[int, MapFunction]] = []
    section = None
    for line in map_text.splitlines():
        parts = line.split()
        if len(parts) == 4 and re.fullmatch(r"[A-Z]+(\(.*\))?", parts[3]):
            section = parts[3]
        elif section == "CODE" and len(parts) == 4 and ":(" in parts[3]:
            source, _, symbol = parts[3].partition(":(")
            functions.append((int(parts[1], 16), MapFunction(source, symbol.rstrip(")"))))
    return [function for _, function in sorted(functions, key=lambda item: item[0])]


def function_results(sections: list[wasmbin.Section]) -> tuple[int, list[bytes]]:
    """(number of imported functions, result types of each defined function)."""
    types: list[tuple[bytes, bytes]] = []
    defined: list[int] = []
    for section in sections:
        if section.id == wasmbin.SECTION_TYPE:
            types = wasmbin.parse_types(section.payload)
        elif section.id == wasmbin.SECTION_FUNCTION:
            defined = wasmbin.parse_function_types(section.payload)
    imported = wasmbin.imported_function_count(sections)
    return imported, [types[index][1] for index in defined]


def stub_body(results: bytes, unavailable: int | None, *, void_reports: bool = True) -> bytes:
    """A function body (with its size) that calls ``unavailable`` (which sets a Python
    RuntimeError) and returns zero, or traps for results that have no zero constant.
    With ``void_reports=False`` a void function just returns (e.g. a finalizer); with
    ``unavailable=None`` every stub traps."""
    if unavailable is None:
        code = b"\x00\x0b"  # unreachable
    elif not results:
        code = (b"\x10" + wasmbin.encode_u32(unavailable) if void_reports else b"") + b"\x0b"
    elif len(results) == 1 and results[0] in _ZERO_CONST:
        code = b"\x10" + wasmbin.encode_u32(unavailable) + _ZERO_CONST[results[0]] + b"\x0b"
    else:
        code = b"\x10" + wasmbin.encode_u32(unavailable) + b"\x00\x0b"  # then unreachable
    body = b"\x00" + code  # no locals
    return wasmbin.encode_u32(len(body)) + body


def unavailable_function(module: bytes) -> int | None:
    """The index of ``meshwasm_compiler_unavailable`` (exported until the prune stage)."""
    for section in wasmbin.parse_sections(module):
        if section.id == wasmbin.SECTION_EXPORT:
            for export in wasmbin.parse_exports(section.payload):
                if export.name == UNAVAILABLE_EXPORT and export.kind == wasmbin.EXTERNAL_FUNC:
                    return export.index
    return None


class PruneError(RuntimeError):
    """The link map does not describe the module (a linker change?): nothing is pruned."""


def prune(link_map: str, snapshotted: bytes, builtins: list[str],
          functions: frozenset[tuple[str, str]] = frozenset()) -> bytes:
    """``snapshotted`` with the bodies of prunable functions replaced by stubs.

    ``link_map`` is the linker's map of the module before the snapshot (which leaves the
    code section as it was linked).  ``functions`` names more (object, symbol) pairs to stub.
    """
    functions = PRUNABLE_FUNCTIONS | functions
    objects = prunable_objects(builtins)
    origin = map_functions(link_map)
    sections = wasmbin.parse_sections(snapshotted)
    imported, results = function_results(sections)
    unavailable = unavailable_function(snapshotted)
    if unavailable is None:
        raise PruneError(f"the module does not export {UNAVAILABLE_EXPORT}")

    out = []
    for section in sections:
        if section.id == wasmbin.SECTION_CODE:
            reader = wasmbin.Reader(section.payload)
            count = reader.u32()
            if count != len(origin) or count != len(results):
                raise PruneError(f"the link map lists {len(origin)} functions, the module "
                                 f"has {count}")
            bodies = []
            for index in range(count):
                start = reader.offset
                size = reader.u32()
                reader.offset += size
                if (origin[index].object in objects
                        or (origin[index].object, origin[index].symbol) in functions):
                    bodies.append(stub_body(results[index], unavailable, void_reports=False))
                else:
                    bodies.append(section.payload[start:reader.offset])
            section = wasmbin.Section(section.id, wasmbin.encode_vector(bodies))
        elif section.id == wasmbin.SECTION_EXPORT:
            kept = [e for e in wasmbin.parse_exports(section.payload) if e.name != UNAVAILABLE_EXPORT]
            section = wasmbin.Section(section.id, wasmbin.encode_vector([e.encode() for e in kept]))
        out.append(section)
    return wasmbin.encode_module(out)

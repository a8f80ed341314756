"""Reachability stage: remove the functions a snapshotted module can no longer call.

After the snapshot no host runs start-up again, so code that only start-up used (interpreter
and import-system initialization, config reading, finalization) is dead.  This stage keeps
what can still run and removes the rest, renumbering functions; the table keeps its layout
(the snapshot's memory holds function pointers, which are table indices).  Since every live
body is rewritten anyway, wasm-ld's 5-byte padded LEBs are written at their shortest too
(``wasmcode.rewrite_body``).  Measurements: ``docs/code-size.md``.

What can run:

- every exported function (the snapshot stage already removed the initializer exports);
- every function a live function ``call``s directly (or names with ``ref.func``);
- through ``call_indirect``: the function in a *live* table slot whose type is the type of
  some ``call_indirect`` in a live function (any other call through that slot traps).

A slot is live when its index can be loaded as a function pointer, which needs the index
to be stored somewhere:

- in memory: any 4-byte little-endian word of the snapshot's memory, at *any* byte offset,
  equal to the index.  C stores function pointers aligned, but the scan does not rely on it:
  a packed struct or a pointer copied into a byte buffer is still found, and scanning every
  offset costs a handful of slots (hello: 2433 slots unaligned vs 2430 aligned, of 2505).
- in code: any ``i32.const`` equal to the index in a live function.  wasm-ld writes the
  relocated constants it fills with table indices as 5-byte LEBs, so only those can be
  function pointers; but we count every constant, so that a tool that re-encodes LEBs
  after linking cannot make the analysis unsound (cost: two slots on hello).
- in a global's initial value (a snapshotted global could hold a function pointer).

Values only move from these places to others by copying (a function pointer is never
computed by arithmetic in C: it is a link-time constant), so the live slots are closed.
(Not so for position-independent code, where a pointer is ``__table_base`` plus a
constant: such modules, which import globals, are left alone.)
Memory is scanned whole (data, heap, the dead stack): values in it are small integers,
most of which are not function pointers, so the result is conservative.  (Measured on
hello: 97% of slots are named by some memory word; a precise count, from a second
snapshot with the table shifted, still names 95% -- CPython's static type objects and
method tables hold almost every function pointer -- so a precise scan is not worth its
cost.  What this stage removes is code that no export or table entry leads to.)

A function that is removed while a table slot still names it (the slot is not live) is
replaced in that slot by a stub of the same type that raises ``RuntimeError`` in Python
through the prune stage's ``meshwasm_compiler_unavailable`` and returns zero (the C API's
error value), so a wrong analysis fails the request by the filter's policy instead of
trapping.

If the module uses an instruction this stage does not decode, or changes its table at run
time, nothing is removed (``Reduction.skipped`` says why).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from meshwasm.builder import wasmbin, wasmcode
from meshwasm.builder.prune import stub_body

NAME_SECTION = "name"


@dataclass
class Reduction:
    """What the stage did, for ``meshwasm build -v``."""

    functions_before: int = 0
    functions_removed: int = 0
    functions_merged: int = 0  # identical to another live function: one body kept
    #: each function's index after the stage (by its index before; -1: removed); empty when
    #: nothing was renumbered
    renumbered: list[int] = field(default_factory=list, repr=False)
    code_bytes_before: int = 0
    code_bytes_after: int = 0
    slots: int = 0
    slots_stubbed: int = 0
    skipped: str | None = None

    def summary(self) -> str:
        if self.skipped:
            return f"nothing removed ({self.skipped})"
        return (f"removed {self.functions_removed} of {self.functions_before} functions "
                f"(and merged {self.functions_merged} identical ones), code "
                f"{self.code_bytes_before / 1e6:.3f} MB -> {self.code_bytes_after / 1e6:.3f} MB; "
                f"{self.slots_stubbed} of {self.slots} table slots point at a stub")

    def describe(self) -> str:
        return f"reachability: {self.summary()}"


class _Unsupported(Exception):
    pass


@dataclass
class _Table:
    offset: int  # table index of the first element
    functions: list[int]  # function index of each element


def _element_segment(payload: bytes) -> _Table:
    """The module's one active element segment (the form wasm-ld writes)."""
    reader = wasmbin.Reader(payload)
    if reader.u32() != 1:
        raise _Unsupported("more than one element segment")
    flags = reader.u32()
    if flags == 2 and reader.u32() != 0:  # flags 2: explicit table index, then element kind
        raise _Unsupported("an element segment for a second table")
    if flags not in (0, 2):
        raise _Unsupported("an element segment other than an active function list")
    expression = reader.init_expr()
    if flags == 2 and reader.byte() != 0x00:
        raise _Unsupported("an element segment of a kind other than functions")
    if expression[0] != 0x41 or len(expression) < 3:
        raise _Unsupported("an element segment with a non-constant offset")
    offset = wasmbin.Reader(expression, 1).s64()
    return _Table(offset, [reader.u32() for _ in range(reader.u32())])


def _encode_element_segment(table: _Table) -> bytes:
    """Always the MVP form (flags 0: table 0, functions), which a flags-2 segment for table
    0 is equivalent to."""
    offset = b"\x41" + wasmbin.encode_s64(table.offset) + b"\x0b"
    return wasmbin.encode_vector([b"\x00" + offset + wasmbin.encode_vector(
        [wasmbin.encode_u32(index) for index in table.functions])])


def memory_chunks(payload: bytes) -> list[bytes]:
    """The data section as chunks of memory, each with zeros around it: active segments
    closer than 4 bytes are merged (a word may straddle them); passive segments stand alone
    (they are copied to run-time offsets)."""
    placed: list[tuple[int, bytes]] = []
    chunks: list[bytes] = []
    for segment in wasmbin.parse_data_segments(payload):
        if segment.passive:
            chunks.append(segment.data)
        elif segment.offset is None:
            raise _Unsupported("a data segment with a non-constant offset")
        else:
            placed.append((segment.offset, segment.data))
    placed.sort(key=lambda item: item[0])
    index = 0
    while index < len(placed):
        start, data = placed[index]
        image = bytearray(data)
        index += 1
        while index < len(placed) and placed[index][0] < start + len(image) + 4:
            offset, more = placed[index]
            end = offset - start + len(more)
            if end > len(image):
                image.extend(bytes(end - len(image)))
            image[offset - start:end] = more
            index += 1
        chunks.append(bytes(image))
    return chunks


_ZERO_RUN = re.compile(rb"\x00\x00+")


def small_words(chunks: list[bytes], limit: int) -> set[int]:
    """Every value in [1, limit) of a 4-byte little-endian word at any offset of memory,
    for limit <= 65536 (so the word's two high bytes are zero).

    Each chunk is scanned with zero padding (memory around it is zero).  A word < 65536 ends with two zero bytes: each run of zeros
    contributes the word that starts two bytes before it and, for runs of 3 or more, the
    one that starts one byte before it; other windows inside the run are zero."""
    if limit > 65536:
        raise _Unsupported("a table with more than 65535 slots")
    values: set[int] = set()
    for data in chunks:
        buffer = b"\x00\x00" + data + b"\x00\x00\x00"
        for run in _ZERO_RUN.finditer(buffer, 2):
            start = run.start()
            values.add(buffer[start - 2] | buffer[start - 1] << 8)
            if run.end() - start >= 3:
                values.add(buffer[start - 1])
    return {value for value in values if 0 < value < limit}


def _global_constants(payload: bytes) -> set[int]:
    values = set()
    for item in wasmbin.parse_globals(payload):
        if item.init[:1] == b"\x41":
            values.add(wasmbin.Reader(item.init, 1).s64() & 0xFFFFFFFF)
    return values


def reduce(module: bytes, unavailable: int | None) -> tuple[bytes, Reduction]:
    """``module`` without the functions it can no longer call.

    ``unavailable`` is the index of ``meshwasm_compiler_unavailable`` (called by the stubs
    that replace removed functions in table slots), or None to make those stubs trap.
    """
    try:
        parsed = ParsedModule(module)
        live = live_functions(parsed, unavailable)
        return _rewrite(parsed, live, unavailable)
    except (_Unsupported, wasmbin.WasmFormatError) as reason:
        return module, Reduction(skipped=str(reason))


class ParsedModule:
    """The parts of a module the analysis reads."""

    def __init__(self, module: bytes) -> None:
        self.sections = wasmbin.parse_sections(module)
        by_id = {s.id: s for s in self.sections if s.id != wasmbin.SECTION_CUSTOM}
        for needed in (wasmbin.SECTION_TYPE, wasmbin.SECTION_FUNCTION, wasmbin.SECTION_CODE,
                       wasmbin.SECTION_EXPORT):
            if needed not in by_id:
                raise _Unsupported(f"no section {needed}")
        if wasmbin.SECTION_START in by_id:
            raise _Unsupported("a start function")
        if _imports_or_exports_table(self.sections):
            raise _Unsupported("the table is imported or exported")
        # Position-independent code makes function pointers as __table_base + constant, so
        # constants would not be table indices: such modules (dylink, imported globals)
        # are left alone.
        if any(wasmbin.custom_section_name(s) in ("dylink", "dylink.0") for s in self.sections) \
                or wasmbin.imported_global_count(self.sections):
            raise _Unsupported("position-independent code (imported globals or dylink)")
        if (wasmbin.SECTION_TABLE in by_id
                and wasmbin.Reader(by_id[wasmbin.SECTION_TABLE].payload).u32() != 1):
            raise _Unsupported("more than one table")
        self.types = wasmbin.parse_types(by_id[wasmbin.SECTION_TYPE].payload)
        # Structurally equal types are one type for call_indirect.
        self.canonical = [self.types.index(item) for item in self.types]
        self.imported = wasmbin.imported_function_count(self.sections)
        self.function_types = [self.canonical[t] for t in wasmbin.parse_function_types(
            by_id[wasmbin.SECTION_FUNCTION].payload)]
        self.code = by_id[wasmbin.SECTION_CODE].payload
        self.ranges = wasmcode.body_ranges(self.code)
        if len(self.ranges) != len(self.function_types):
            raise _Unsupported("function and code sections disagree")
        self.table = (_element_segment(by_id[wasmbin.SECTION_ELEMENT].payload)
                      if wasmbin.SECTION_ELEMENT in by_id else _Table(0, []))
        self.exports = wasmbin.parse_exports(by_id[wasmbin.SECTION_EXPORT].payload)
        table_end = self.table.offset + len(self.table.functions)
        # Where a function pointer can be stored before any code runs: memory and globals.
        self.stored = (small_words(memory_chunks(by_id[wasmbin.SECTION_DATA].payload), table_end)
                       if wasmbin.SECTION_DATA in by_id else set())
        if wasmbin.SECTION_GLOBAL in by_id:
            self.stored |= _global_constants(by_id[wasmbin.SECTION_GLOBAL].payload)
        self.scans: dict[int, wasmcode.BodyScan] = {}

    def type_of(self, function: int) -> int | None:
        return self.function_types[function - self.imported] if function >= self.imported else None

    def scan(self, function: int) -> wasmcode.BodyScan:
        if function not in self.scans:
            start, end = self.ranges[function - self.imported]
            self.scans[function] = wasmcode.scan_body(self.code, start, end)
        return self.scans[function]


def live_functions(parsed: ParsedModule, unavailable: int | None) -> set[int]:
    """Every function that can still run: the fixpoint of exports, direct calls, and
    call_indirect through live slots of a called type (see the module's docstring)."""
    table = parsed.table
    table_end = table.offset + len(table.functions)
    live: set[int] = set()
    live_slots: set[int] = set()
    called_types: set[int] = set()
    slot_functions_by_type: dict[int | None, list[int]] = {}
    work = [e.index for e in parsed.exports if e.kind == wasmbin.EXTERNAL_FUNC]
    if unavailable is not None:
        work.append(unavailable)

    def add_slots(values: set[int]) -> None:
        for value in values:
            if table.offset <= value < table_end and value not in live_slots:
                live_slots.add(value)
                function = table.functions[value - table.offset]
                kind = parsed.type_of(function)
                slot_functions_by_type.setdefault(kind, []).append(function)
                if kind in called_types:
                    work.append(function)

    add_slots(parsed.stored)
    while work:
        function = work.pop()
        if function in live:
            continue
        live.add(function)
        if function < parsed.imported:
            continue
        scan = parsed.scan(function)
        if scan.table_writes:
            raise _Unsupported("the table is changed at run time ("
                               + ", ".join(sorted(scan.table_writes)) + ")")
        work.extend(target for target, _, _ in scan.function_refs)
        add_slots(scan.constants)
        for kind in scan.indirect_types:
            kind = parsed.canonical[kind]
            if kind not in called_types:
                called_types.add(kind)
                work.extend(slot_functions_by_type.get(kind, ()))
    return live


def identical_functions(parsed: ParsedModule, functions: list[int]) -> dict[int, int]:
    """Each of ``functions`` whose type and body are byte for byte those of an earlier one,
    mapped to that earlier one.  (Same bytes call the same functions: the same behaviour.)

    Merging them is safe although C may compare function pointers: a pointer is a table
    slot, and every slot keeps its index; only the body it runs is shared.  Each function
    costs Envoy's V8 memory of its own (about 1.8 KB measured), besides its code."""
    first: dict[tuple[int, bytes], int] = {}
    same: dict[int, int] = {}
    for function in functions:
        start, end = parsed.ranges[function - parsed.imported]
        key = (parsed.function_types[function - parsed.imported], parsed.code[start:end])
        original = first.setdefault(key, function)
        if original != function:
            same[function] = original
    return same


def _rewrite(parsed: ParsedModule, live: set[int],
             unavailable: int | None) -> tuple[bytes, Reduction]:
    """Remove the functions not in ``live``, and merge identical live ones, renumbering the
    rest; table slots that named a removed function name a stub of its type instead."""
    imported = parsed.imported
    defined = len(parsed.function_types)
    # New indices: imports, live defined functions in their order, then one stub per type.
    new_index = list(range(imported)) + [-1] * defined
    live_defined = [f for f in range(imported, imported + defined) if f in live]
    merged = identical_functions(parsed, live_defined)
    kept = [f for f in live_defined if f not in merged]
    for position, function in enumerate(kept):
        new_index[function] = imported + position
    for duplicate, original in merged.items():
        new_index[duplicate] = new_index[original]
    stub_types: dict[int, int] = {}  # type -> new index of its stub
    stubbed = 0
    slots = []
    for function in parsed.table.functions:
        if function in live:
            slots.append(new_index[function])
            continue
        kind = parsed.type_of(function)
        assert kind is not None  # imports are always live
        if kind not in stub_types:
            stub_types[kind] = imported + len(kept) + len(stub_types)
        slots.append(stub_types[kind])
        stubbed += 1
    unavailable_index = new_index[unavailable] if unavailable is not None else None

    bodies = [wasmcode.rewrite_body(parsed.code, *parsed.ranges[f - imported], parsed.scan(f),
                               new_index) for f in kept]
    bodies += [stub_body(parsed.types[kind][1], unavailable_index) for kind in stub_types]
    new_types = [parsed.function_types[f - imported] for f in kept] + list(stub_types)

    out = []
    for section in parsed.sections:
        if section.id == wasmbin.SECTION_FUNCTION:
            section = wasmbin.Section(section.id, wasmbin.encode_vector(
                [wasmbin.encode_u32(kind) for kind in new_types]))
        elif section.id == wasmbin.SECTION_CODE:
            section = wasmbin.Section(section.id, wasmbin.encode_vector(bodies))
        elif section.id == wasmbin.SECTION_ELEMENT:
            section = wasmbin.Section(section.id, _encode_element_segment(
                _Table(parsed.table.offset, slots)))
        elif section.id == wasmbin.SECTION_EXPORT:
            renumbered = [wasmbin.Export(e.name, e.kind, new_index[e.index]
                                         if e.kind == wasmbin.EXTERNAL_FUNC else e.index)
                          for e in parsed.exports]
            section = wasmbin.Section(section.id, wasmbin.encode_vector(
                [e.encode() for e in renumbered]))
        elif wasmbin.custom_section_name(section) == NAME_SECTION:
            continue  # function names would no longer match their indices
        out.append(section)
    new_code = next(s for s in out if s.id == wasmbin.SECTION_CODE)
    return wasmbin.encode_module(out), Reduction(
        functions_before=defined, functions_removed=defined - len(kept) - len(merged),
        functions_merged=len(merged), renumbered=new_index,
        code_bytes_before=len(parsed.code), code_bytes_after=len(new_code.payload),
        slots=len(parsed.table.functions), slots_stubbed=stubbed)


def _imports_or_exports_table(sections: list[wasmbin.Section]) -> bool:
    for section in sections:
        if section.id == wasmbin.SECTION_EXPORT:
            if any(e.kind == wasmbin.EXTERNAL_TABLE for e in wasmbin.parse_exports(section.payload)):
                return True
    return wasmbin.imported_count(sections, wasmbin.EXTERNAL_TABLE) > 0

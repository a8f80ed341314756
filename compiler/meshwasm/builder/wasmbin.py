"""Just enough of the WebAssembly binary format to rewrite a module's sections.

Used by the snapshot stage (globals, memory, data, exports), the prune and reachability
stages (functions, table, exports) and the stamp stage (custom sections).  Instructions are
decoded by ``wasmcode``.
"""

from __future__ import annotations

from dataclasses import dataclass

MAGIC = b"\0asm\x01\0\0\0"

SECTION_CUSTOM, SECTION_TYPE, SECTION_IMPORT, SECTION_FUNCTION = 0, 1, 2, 3
SECTION_TABLE, SECTION_MEMORY, SECTION_GLOBAL, SECTION_EXPORT = 4, 5, 6, 7
SECTION_START, SECTION_ELEMENT, SECTION_CODE, SECTION_DATA, SECTION_DATA_COUNT = 8, 9, 10, 11, 12

EXTERNAL_FUNC, EXTERNAL_TABLE, EXTERNAL_MEMORY, EXTERNAL_GLOBAL = 0, 1, 2, 3


class WasmFormatError(ValueError):
    """The bytes are not a module this reader understands."""


def encode_u32(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_s64(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte if done else byte | 0x80)
        if done:
            return bytes(out)


def encode_name(name: str) -> bytes:
    raw = name.encode()
    return encode_u32(len(raw)) + raw


class Reader:
    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.offset = offset

    def byte(self) -> int:
        if self.offset >= len(self.data):
            raise WasmFormatError("unexpected end of module")
        value = self.data[self.offset]
        self.offset += 1
        return value

    def u32(self) -> int:
        result = shift = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    def s64(self) -> int:
        result = shift = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                if byte & 0x40:
                    result -= 1 << shift
                return result

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise WasmFormatError("unexpected end of module")
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def name(self) -> str:
        return self.take(self.u32()).decode()

    def init_expr(self) -> bytes:
        """Skip a constant expression (up to and including `end`); return its bytes."""
        start = self.offset
        while True:
            opcode = self.byte()
            if opcode == 0x0B:
                return self.data[start:self.offset]
            if opcode in (0x41, 0x42):  # i32.const / i64.const
                self.s64()
            elif opcode == 0x43:
                self.take(4)
            elif opcode == 0x44:
                self.take(8)
            elif opcode in (0x23, 0xD2):  # global.get / ref.func
                self.u32()
            elif opcode == 0xD0:  # ref.null
                self.byte()
            elif opcode in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):  # extended-const arithmetic
                pass
            else:
                raise WasmFormatError(f"unsupported opcode 0x{opcode:02x} in a constant")


@dataclass
class Section:
    id: int
    payload: bytes

    def encode(self) -> bytes:
        return bytes([self.id]) + encode_u32(len(self.payload)) + self.payload


def parse_sections(module: bytes) -> list[Section]:
    if module[:8] != MAGIC:
        raise WasmFormatError("not a WebAssembly 1.0 module (bad magic or version)")
    reader = Reader(module, 8)
    sections = []
    while reader.offset < len(module):
        section_id = reader.byte()
        sections.append(Section(section_id, reader.take(reader.u32())))
    return sections


def encode_module(sections: list[Section]) -> bytes:
    return MAGIC + b"".join(section.encode() for section in sections)


def custom_section_name(section: Section) -> str | None:
    if section.id != SECTION_CUSTOM:
        return None
    return Reader(section.payload).name()


def custom_section(name: str, data: bytes) -> Section:
    return Section(SECTION_CUSTOM, encode_name(name) + data)


@dataclass
class Export:
    name: str
    kind: int
    index: int

    def encode(self) -> bytes:
        return encode_name(self.name) + bytes([self.kind]) + encode_u32(self.index)


def parse_exports(payload: bytes) -> list[Export]:
    reader = Reader(payload)
    return [Export(reader.name(), reader.byte(), reader.u32()) for _ in range(reader.u32())]


def encode_vector(items: list[bytes]) -> bytes:
    return encode_u32(len(items)) + b"".join(items)


def imported_global_count(sections: list[Section]) -> int:
    return imported_count(sections, EXTERNAL_GLOBAL)


def imported_function_count(sections: list[Section]) -> int:
    return imported_count(sections, EXTERNAL_FUNC)


@dataclass(frozen=True)
class Import:
    module: str
    name: str
    kind: int  # EXTERNAL_FUNC, ...


def parse_imports(sections: list[Section]) -> list[Import]:
    """Every import, in order (descriptions skipped)."""
    imports = []
    for section in sections:
        if section.id != SECTION_IMPORT:
            continue
        reader = Reader(section.payload)
        for _ in range(reader.u32()):
            module, name, kind = reader.name(), reader.name(), reader.byte()
            imports.append(Import(module, name, kind))
            if kind == EXTERNAL_FUNC:
                reader.u32()
            elif kind == EXTERNAL_TABLE:
                reader.byte()
                read_limits(reader)
            elif kind == EXTERNAL_MEMORY:
                read_limits(reader)
            elif kind == EXTERNAL_GLOBAL:
                reader.byte()
                reader.byte()
    return imports


def imported_count(sections: list[Section], wanted: int) -> int:
    return sum(item.kind == wanted for item in parse_imports(sections))


def read_limits(reader: Reader) -> tuple[int, int, int | None]:
    """(flags, minimum, maximum) of a table or memory."""
    flags = reader.byte()
    minimum = reader.u32()
    maximum = reader.u32() if flags & 1 else None
    return flags, minimum, maximum


@dataclass
class Global:
    value_type: int
    mutable: bool
    init: bytes


def parse_globals(payload: bytes) -> list[Global]:
    reader = Reader(payload)
    return [Global(reader.byte(), bool(reader.byte()), reader.init_expr())
            for _ in range(reader.u32())]


def encode_global(item: Global) -> bytes:
    return bytes([item.value_type, 1 if item.mutable else 0]) + item.init


@dataclass(frozen=True)
class DataSegment:
    """One segment of the data section.  ``offset`` is where an active segment's constant
    offset puts it; None for a passive segment, or an offset that is not an ``i32.const``."""

    passive: bool
    memory: int
    offset: int | None
    data: bytes


def parse_data_segments(payload: bytes) -> list[DataSegment]:
    reader = Reader(payload)
    segments = []
    for _ in range(reader.u32()):
        flags = reader.u32()
        memory = reader.u32() if flags == 2 else 0
        offset = None
        if flags in (0, 2):
            expression = reader.init_expr()
            if expression[0] == 0x41:
                offset = Reader(expression, 1).s64()
        segments.append(DataSegment(flags == 1, memory, offset, reader.take(reader.u32())))
    return segments


def encode_active_segment(offset: int, data: bytes) -> bytes:
    """An active segment of memory 0 at a constant offset (flags 0, ``i32.const offset``)."""
    return b"\x00\x41" + encode_s64(offset) + b"\x0b" + encode_u32(len(data)) + data


def parse_memory(payload: bytes) -> tuple[int, int, int | None]:
    reader = Reader(payload)
    if reader.u32() != 1:
        raise WasmFormatError("expected exactly one memory")
    return read_limits(reader)


def encode_memory(flags: int, minimum: int, maximum: int | None) -> bytes:
    body = bytes([flags]) + encode_u32(minimum)
    if flags & 1:
        assert maximum is not None
        body += encode_u32(maximum)
    return encode_u32(1) + body


def parse_types(payload: bytes) -> list[tuple[bytes, bytes]]:
    """The type section: (parameter types, result types) of each function type, as the
    value-type bytes (0x7F i32, 0x7E i64, 0x7D f32, 0x7C f64, ...)."""
    reader = Reader(payload)
    types = []
    for _ in range(reader.u32()):
        if reader.byte() != 0x60:
            raise WasmFormatError("unsupported type form (not a function type)")
        params = reader.take(reader.u32())
        types.append((params, reader.take(reader.u32())))
    return types


def parse_function_types(payload: bytes) -> list[int]:
    """The function section: the type index of each defined function."""
    reader = Reader(payload)
    return [reader.u32() for _ in range(reader.u32())]

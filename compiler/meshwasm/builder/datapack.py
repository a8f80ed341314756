"""Pack the snapshot's memory image: one compressed passive segment and a start function.

After the snapshot, a module's data section holds Python's whole heap as thousands of
active segments (about 2 MB for hello, 1.1 MB of it non-zero).  Envoy and V8 keep several
copies of a module's bytes (a 3 MB custom section added 17 MiB of RSS to Envoy here), and
users pull every byte of it.  This stage replaces those segments with one passive segment
holding LZ4 blocks, and adds a start function that, at instantiation and before any
export can run, copies the blocks to scratch pages above the snapshot's memory, unpacks
them in place (``glue/unpack_memory.c``) and zeroes the scratch again.  Memory after the
start function equals the snapshot's, plus the zeroed scratch pages at its end, which
the allocator treats as already taken (wasi-libc's ``sbrk`` grows from the memory's end).

Runs of zero bytes of at least ``_ZERO_RUN`` bytes split the image into chunks, each its
own block, so the unpacker never writes pages that were all zero.  A module without the
unpacker export, or one whose data the stage would not shrink, is left as it was.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

import lz4.block

from meshwasm.builder import wasmbin

UNPACK_EXPORT = "meshwasm_unpack_memory"
PAGE_SIZE = 65536
_ZERO_RUN = 4096
_LZ4_LEVEL = 9  # lz4's high-compression mode; 12 gains under 1% for 8x the time
_VOID_TYPE = b"\x60\x00\x00"


@dataclass(frozen=True)
class Packed:
    """What :func:`pack_memory` did, for the build's stamp and report."""

    segments: int
    data_bytes: int  # the data section before
    packed_bytes: int  # the passive segment after (0: left as it was)
    chunks: int = 0
    skipped: str = ""

    def summary(self) -> str:
        if self.skipped:
            return f"not packed: {self.skipped}"
        return (f"{self.segments} data segments, {self.data_bytes} bytes -> {self.chunks} "
                f"LZ4 chunks, {self.packed_bytes} bytes")


class _Skip(Exception):
    pass


def memory_image(data_payload: bytes) -> dict[int, bytes]:
    """The active segments of a data section, by offset (only constant offsets, memory 0)."""
    placed: dict[int, bytes] = {}
    for segment in wasmbin.parse_data_segments(data_payload):
        if segment.passive:
            raise _Skip("a passive data segment")
        if segment.memory != 0:
            raise _Skip("a data segment for another memory")
        if segment.offset is None:
            raise _Skip("a data segment with a non-constant offset")
        placed[segment.offset] = segment.data
    return placed


def _flatten(placed: dict[int, bytes]) -> tuple[int, bytearray]:
    low = min(placed)
    image = bytearray(max(offset + len(data) for offset, data in placed.items()) - low)
    for offset, data in sorted(placed.items()):
        image[offset - low:offset - low + len(data)] = data
    return low, image


def pack_chunks(placed: dict[int, bytes]) -> tuple[bytes, int]:
    """The passive segment's bytes (see ``glue/unpack_memory.c``) and its chunk count."""
    low, image = _flatten(placed)
    chunks: list[tuple[int, bytes]] = []
    position = 0
    for gap in re.finditer(rb"\x00{%d,}" % _ZERO_RUN, image):
        if gap.start() > position:
            chunks.append((low + position, bytes(image[position:gap.start()])))
        position = gap.end()
    if position < len(image):
        chunks.append((low + position, bytes(image[position:])))
    blocks = [lz4.block.compress(data, mode="high_compression", compression=_LZ4_LEVEL,
                                 store_size=False) for _, data in chunks]
    header = struct.pack("<I", len(chunks)) + b"".join(
        struct.pack("<II", address, len(block)) for (address, _), block in zip(chunks, blocks))
    return header + b"".join(blocks), len(chunks)


def _start_body(scratch: int, size: int, unpack: int) -> bytes:
    scratch_at = b"\x41" + wasmbin.encode_s64(scratch)  # i32.const scratch
    size_of = b"\x41" + wasmbin.encode_s64(size)
    zero = b"\x41\x00"
    body = (b"\x00"  # no locals
            + scratch_at + zero + size_of + b"\xfc\x08\x00\x00"  # memory.init segment 0
            + b"\xfc\x09\x00"  # data.drop segment 0
            + scratch_at + b"\x10" + wasmbin.encode_u32(unpack)  # call the unpacker
            + scratch_at + zero + size_of + b"\xfc\x0b\x00"  # memory.fill: scratch back to 0
            + b"\x0b")
    return wasmbin.encode_u32(len(body)) + body


def _append_to_vector(payload: bytes, item: bytes) -> bytes:
    reader = wasmbin.Reader(payload)
    count = reader.u32()
    return wasmbin.encode_u32(count + 1) + payload[reader.offset:] + item


def pack_memory(module: bytes) -> tuple[bytes, Packed]:
    """``module`` with its active data segments packed (see the module's docstring)."""
    sections = wasmbin.parse_sections(module)
    by_id = {s.id: s for s in sections if s.id != wasmbin.SECTION_CUSTOM}
    data = by_id.get(wasmbin.SECTION_DATA)
    if data is None:
        return module, Packed(0, 0, 0, skipped="no data")
    segments = wasmbin.Reader(data.payload).u32()
    try:
        return _pack(sections, by_id, data.payload, segments)
    except _Skip as reason:
        return module, Packed(segments, len(data.payload), 0, skipped=str(reason))


def _pack(sections: list[wasmbin.Section], by_id: dict[int, wasmbin.Section],
          data_payload: bytes, segments: int) -> tuple[bytes, Packed]:
    if wasmbin.SECTION_START in by_id:
        raise _Skip("the module already has a start function")
    exports = wasmbin.parse_exports(by_id[wasmbin.SECTION_EXPORT].payload)
    unpack = next((e for e in exports if e.name == UNPACK_EXPORT
                   and e.kind == wasmbin.EXTERNAL_FUNC), None)
    if unpack is None:
        raise _Skip(f"no {UNPACK_EXPORT} export")
    if wasmbin.SECTION_MEMORY not in by_id:
        raise _Skip("the memory is imported")
    placed = memory_image(data_payload)
    if not placed:
        raise _Skip("no data")
    blob, chunks = pack_chunks(placed)
    segment = b"\x01" + wasmbin.encode_u32(len(blob)) + blob  # flags 1: passive
    packed_payload = wasmbin.encode_vector([segment])
    if len(packed_payload) >= len(data_payload):
        raise _Skip("packing would not make the data smaller")

    flags, minimum, maximum = wasmbin.parse_memory(by_id[wasmbin.SECTION_MEMORY].payload)
    scratch = minimum * PAGE_SIZE
    pages = minimum + -(-len(blob) // PAGE_SIZE)
    if maximum is not None and pages > maximum:
        raise _Skip("no room for the scratch pages under the memory's maximum")

    types = wasmbin.parse_types(by_id[wasmbin.SECTION_TYPE].payload)
    void_type = types.index((b"", b"")) if (b"", b"") in types else len(types)
    defined = len(wasmbin.parse_function_types(by_id[wasmbin.SECTION_FUNCTION].payload))
    start_function = wasmbin.imported_function_count(sections) + defined
    body = _start_body(scratch, len(blob), unpack.index)

    out: list[wasmbin.Section] = []
    for section in sections:
        if section.id == wasmbin.SECTION_TYPE and void_type == len(types):
            section = wasmbin.Section(section.id, _append_to_vector(section.payload, _VOID_TYPE))
        elif section.id == wasmbin.SECTION_FUNCTION:
            section = wasmbin.Section(section.id, _append_to_vector(
                section.payload, wasmbin.encode_u32(void_type)))
        elif section.id == wasmbin.SECTION_MEMORY:
            section = wasmbin.Section(section.id, wasmbin.encode_memory(flags, pages, maximum))
        elif section.id == wasmbin.SECTION_EXPORT:
            kept = [e.encode() for e in exports if e is not unpack]
            out.append(wasmbin.Section(section.id, wasmbin.encode_vector(kept)))
            section = wasmbin.Section(wasmbin.SECTION_START, wasmbin.encode_u32(start_function))
        elif section.id == wasmbin.SECTION_DATA_COUNT:
            continue  # written again just before the code section
        elif section.id == wasmbin.SECTION_CODE:
            out.append(wasmbin.Section(wasmbin.SECTION_DATA_COUNT, wasmbin.encode_u32(1)))
            section = wasmbin.Section(section.id, _append_to_vector(section.payload, body))
        elif section.id == wasmbin.SECTION_DATA:
            section = wasmbin.Section(section.id, packed_payload)
        out.append(section)
    return wasmbin.encode_module(out), Packed(segments, len(data_payload), len(blob), chunks)

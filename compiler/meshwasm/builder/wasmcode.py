"""Just enough of WebAssembly's instruction encoding to follow calls and function pointers.

``scan_body`` walks one function body and reports what the reachability stage needs: the
functions it names (``call``, ``return_call``, ``ref.func``, with where each index is
encoded so they can be renumbered), the types it calls indirectly, its ``i32.const``
values (which include every table index it uses as a function pointer), and where it has
5-byte LEB immediates: wasm-ld fills relocations (calls, data addresses, the stack-pointer
global, type indices, table indices) into 5-byte padded LEBs, which ``rewrite_body``
writes back at their shortest.

Covered: the MVP, sign extension, non-trapping float-to-int, bulk memory, reference types,
multi-value block types and tail calls.  SIMD, exceptions and threads are not decoded: a
body using them raises ``WasmFormatError`` and the caller leaves the module as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshwasm.builder.wasmbin import WasmFormatError, encode_s64, encode_u32

# Immediate kinds, by opcode.
_NONE, _U32, _U32_U32, _MEMARG, _BLOCK, _BR_TABLE, _I32, _I64, _F32, _F64, _BYTE = range(11)
_SELECT_T, _CALL, _CALL_INDIRECT, _REF_FUNC, _PREFIX_FC, _TABLE = range(11, 17)

_KIND: list[int | None] = [None] * 256
for _op in (0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, 0xD1, *range(0x45, 0xC5)):
    _KIND[_op] = _NONE
for _op in (0x02, 0x03, 0x04):
    _KIND[_op] = _BLOCK
for _op in (0x0C, 0x0D, 0x20, 0x21, 0x22, 0x23, 0x24):
    _KIND[_op] = _U32
for _op in range(0x28, 0x3F):
    _KIND[_op] = _MEMARG
_KIND[0x0E] = _BR_TABLE
_KIND[0x10] = _KIND[0x12] = _CALL  # call, return_call
_KIND[0x11] = _KIND[0x13] = _CALL_INDIRECT  # call_indirect, return_call_indirect
_KIND[0x1C] = _SELECT_T
_KIND[0x25] = _KIND[0x26] = _TABLE  # table.get, table.set
_KIND[0x3F] = _KIND[0x40] = _BYTE  # memory.size, memory.grow (memory index)
_KIND[0x41] = _I32
_KIND[0x42] = _I64
_KIND[0x43] = _F32
_KIND[0x44] = _F64
_KIND[0xD0] = _BYTE  # ref.null heap type
_KIND[0xD2] = _REF_FUNC
_KIND[0xFC] = _PREFIX_FC

# 0xFC sub-opcodes: number of u32 immediates (memory/table indices are u32 too).
_FC_IMMEDIATES = {0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0,  # trunc_sat
                  8: 2, 9: 1, 10: 2, 11: 1,  # memory.init, data.drop, memory.copy, memory.fill
                  12: 2, 13: 1, 14: 2, 15: 1, 16: 1, 17: 1}  # table.* and elem.drop
# Instructions that change a table at run time: with them, the table's initial contents no
# longer tell which functions it can hold.
TABLE_WRITES = frozenset({"table.set", "table.grow", "table.init", "table.copy", "table.fill"})
_FC_TABLE_WRITES = {12: "table.init", 14: "table.copy", 15: "table.grow", 17: "table.fill"}

_BLOCK_VALUE_TYPES = frozenset({0x40, 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F})
PADDED_LENGTH = 5  # how wasm-ld writes a relocated LEB


@dataclass
class BodyScan:
    """What one function body refers to.  Offsets are relative to the body's start (the
    byte after its size)."""

    # (function, offset of its index, end of its index), in body order
    function_refs: list[tuple[int, int, int]] = field(default_factory=list)
    indirect_types: set[int] = field(default_factory=set)
    constants: set[int] = field(default_factory=set)  # i32.const values, as unsigned
    padded_constants: set[int] = field(default_factory=set)  # those written as 5-byte LEBs
    table_writes: set[str] = field(default_factory=set)
    # 5-byte LEB immediates other than function indices: (offset, end, value, signed)
    padded: list[tuple[int, int, int, bool]] = field(default_factory=list)


def _u32(code: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = code[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _skip_leb(code: bytes, position: int) -> int:
    while code[position] & 0x80:
        position += 1
    return position + 1


def scan_body(code: bytes, start: int, end: int) -> BodyScan:
    """Scan the body in ``code[start:end]`` (locals, then instructions)."""
    scan = BodyScan()
    refs = scan.function_refs
    padded_constants = scan.padded_constants
    constants = scan.constants
    padded = scan.padded
    kinds = _KIND
    try:
        groups, position = _u32(code, start)
        for _ in range(groups):
            position = _skip_leb(code, position) + 1  # count, value type
        while position < end:
            opcode = code[position]
            position += 1
            kind = kinds[opcode]
            # Most frequent first: local/global/br indices, plain opcodes, loads and stores.
            if kind == _U32:
                if code[position] < 0x80:
                    position += 1
                else:
                    value_start = position
                    value, position = _u32(code, position)
                    if position - value_start == PADDED_LENGTH:
                        padded.append((value_start - start, position - start, value, False))
            elif kind == _NONE:
                pass
            elif kind == _MEMARG:
                while code[position] & 0x80:  # alignment
                    position += 1
                position += 1
                if code[position] < 0x80:  # offset
                    position += 1
                else:
                    value_start = position
                    value, position = _u32(code, position)
                    if position - value_start == PADDED_LENGTH:
                        padded.append((value_start - start, position - start, value, False))
            elif kind == _I32:
                byte = code[position]
                if byte < 0x40:  # one-byte non-negative constant
                    constants.add(byte)
                    position += 1
                    continue
                value_start = position
                value = shift = 0
                while True:
                    byte = code[position]
                    position += 1
                    value |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                if byte & 0x40:
                    value -= 1 << shift
                if position - value_start == PADDED_LENGTH:
                    padded.append((value_start - start, position - start, value, True))
                    padded_constants.add(value & 0xFFFFFFFF)
                constants.add(value & 0xFFFFFFFF)
            elif kind == _CALL or kind == _REF_FUNC:
                value_start = position
                target, position = _u32(code, position)
                refs.append((target, value_start - start, position - start))
            elif kind == _BLOCK:
                if code[position] in _BLOCK_VALUE_TYPES:
                    position += 1
                else:
                    position = _skip_leb(code, position)  # s33 type index
            elif kind == _BYTE or kind == _I64:
                position = _skip_leb(code, position)
            elif kind == _CALL_INDIRECT:
                value_start = position
                value, position = _u32(code, position)  # type index
                scan.indirect_types.add(value)
                if position - value_start == PADDED_LENGTH:
                    padded.append((value_start - start, position - start, value, False))
                value_start = position
                value, position = _u32(code, position)  # table index
                if position - value_start == PADDED_LENGTH:
                    padded.append((value_start - start, position - start, value, False))
            elif kind == _BR_TABLE:
                count, position = _u32(code, position)
                for _ in range(count + 1):
                    position = _skip_leb(code, position)
            elif kind == _F32:
                position += 4
            elif kind == _F64:
                position += 8
            elif kind == _SELECT_T:
                count, position = _u32(code, position)
                position += count
            elif kind == _TABLE:
                if opcode == 0x26:
                    scan.table_writes.add("table.set")
                position = _skip_leb(code, position)
            elif kind == _PREFIX_FC:
                sub, position = _u32(code, position)
                immediates = _FC_IMMEDIATES.get(sub)
                if immediates is None:
                    raise WasmFormatError(f"unsupported instruction 0xfc {sub}")
                if sub in _FC_TABLE_WRITES:
                    scan.table_writes.add(_FC_TABLE_WRITES[sub])
                for _ in range(immediates):
                    position = _skip_leb(code, position)
            else:
                raise WasmFormatError(f"unsupported instruction 0x{opcode:02x} at byte "
                                      f"{position - 1 - start} of a function body")
    except IndexError:
        raise WasmFormatError("a function body ends inside an instruction") from None
    if position != end:
        raise WasmFormatError("a function body's instructions overrun its size")
    return scan


def body_ranges(payload: bytes) -> list[tuple[int, int]]:
    """(start, end) in the code section's payload of each body, after its size."""
    count, position = _u32(payload, 0)
    ranges = []
    for _ in range(count):
        size, position = _u32(payload, position)
        ranges.append((position, position + size))
        position += size
    if position != len(payload):
        raise WasmFormatError("the code section's bodies do not fill it")
    return ranges


def rewrite_body(code: bytes, start: int, end: int, scan: BodyScan,
                 new_index: list[int]) -> bytes:
    """The body (with its size) with function indices renumbered by ``new_index`` and
    every padded LEB written at its shortest; nothing else changes."""
    edits = [(offset, stop, encode_u32(new_index[target]))
             for target, offset, stop in scan.function_refs]
    edits += [(offset, stop, encode_s64(value) if signed else encode_u32(value))
              for offset, stop, value, signed in scan.padded]
    edits.sort()
    pieces = []
    position = start
    for offset, stop, encoded in edits:
        pieces.append(code[position:start + offset])
        pieces.append(encoded)
        position = start + stop
    pieces.append(code[position:end])
    body = b"".join(pieces)
    return encode_u32(len(body)) + body

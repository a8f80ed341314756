"""Protobuf's wire format, the little of it a filter needs to write and read small messages
by hand (foreign function arguments, gRPC messages) without the ``protobuf`` package.

A message is a run of fields: a key ``number << 3 | wire_type``, then a varint (type 0) or
a length and that many bytes (type 2: strings, bytes, nested messages).
"""

from __future__ import annotations


def varint(value: int) -> bytes:
    """``value`` (>= 0) as a base-128 varint."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, value: bytes | int) -> bytes:
    """One field: length-delimited for bytes, a varint for an int (a bool is 0 or 1)."""
    if isinstance(value, int):
        return varint(number << 3) + varint(int(value))
    return varint(number << 3 | 2) + varint(len(value)) + value


def _read_varint(message: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(message) or shift > 63:
            raise ValueError("truncated varint")
        byte = message[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def records(message: bytes) -> list[tuple[int, bytes | int]]:
    """Every varint and length-delimited field in order, as (number, value): repeated
    fields keep all their values; ``ValueError`` for other wire types or a truncated
    message."""
    found: list[tuple[int, bytes | int]] = []
    position = 0
    while position < len(message):
        key, position = _read_varint(message, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _read_varint(message, position)
            found.append((number, value))
        elif wire_type == 2:
            size, position = _read_varint(message, position)
            if position + size > len(message):
                raise ValueError("truncated field")
            found.append((number, message[position:position + size]))
            position += size
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
    return found


def fields(message: bytes) -> dict[int, bytes | int]:
    """Field number -> value (the last one wins, as in protobuf) of the varint and
    length-delimited fields; ``ValueError`` for other wire types or a truncated message."""
    return dict(records(message))

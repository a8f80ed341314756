"""The binary-format helpers round-trip what they encode."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from meshwasm.builder import wasmbin
from meshwasm.builder.stamp import read_stamp, stamp

EMPTY_MODULE = wasmbin.MAGIC


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_u32_round_trip(value: int) -> None:
    assert wasmbin.Reader(wasmbin.encode_u32(value)).u32() == value


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_s64_round_trip(value: int) -> None:
    assert wasmbin.Reader(wasmbin.encode_s64(value)).s64() == value


def test_stamp_replaces_an_earlier_stamp() -> None:
    once = stamp(EMPTY_MODULE, {"filter": "a"})
    twice = stamp(once, {"filter": "b"})
    assert read_stamp(twice) == {"filter": "b"}
    assert len(wasmbin.parse_sections(twice)) == 1


def test_not_wasm_is_rejected() -> None:
    try:
        wasmbin.parse_sections(b"\x7fELF....")
    except wasmbin.WasmFormatError as error:
        assert "magic" in str(error)
    else:
        raise AssertionError("parse_sections accepted a non-Wasm file")

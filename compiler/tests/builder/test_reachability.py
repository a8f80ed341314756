"""The reachability stage keeps what can run, and a removed function that runs anyway
reports through the 'unavailable' function instead of trapping."""

from __future__ import annotations

import wasmtime
from hypothesis import given
from hypothesis import strategies as st

from meshwasm.builder import reachability, wasmbin, wasmcode

# Slot 1 is named by a word in memory (unaligned), slot 2 by an i32.const in live code.
# Slot 3's index is only computed (1 + 2): the analysis cannot see it, so its function is
# removed and the slot calls a stub.  Slot 4 holds a function of a type no call_indirect
# uses.  $dead is called by nobody; $helper by an export.
MODULE = """
(module
  (import "host" "unavailable" (func $unavailable))
  (type $ii (func (param i32) (result i32)))
  (table 5 funcref)
  (memory (export "memory") 1)
  (elem (i32.const 1) $stored $constant $computed $other_type)
  (data (i32.const 1001) "\\01\\00\\00\\00")
  (func $stored (type $ii) (i32.add (local.get 0) (i32.const 10)))
  (func $constant (type $ii) (i32.add (local.get 0) (i32.const 20)))
  (func $computed (type $ii) (i32.add (local.get 0) (i32.const 30)))
  (func $other_type (param i64) (result i64) (local.get 0))
  (func $dead (result i32) (i32.const 7))
  (func $helper (result i32) (i32.const 8))
  (func (export "call_slot") (param $slot i32) (param $x i32) (result i32)
    (call_indirect (type $ii) (local.get $x) (local.get $slot)))
  (func (export "constant_slot") (result i32) (i32.const 2))
  (func (export "computed_slot") (result i32) (i32.add (i32.const 1) (i32.const 2)))
  (func (export "helper") (result i32) (call $helper)))
"""


def _instantiate(module: bytes) -> tuple[wasmtime.Store, wasmtime.Instance, list[int]]:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    reports: list[int] = []
    unavailable = wasmtime.Func(store, wasmtime.FuncType([], []), lambda: reports.append(1))
    instance = wasmtime.Instance(store, wasmtime.Module(engine, module), [unavailable])
    return store, instance, reports


def _reduced() -> tuple[bytes, reachability.Reduction]:
    return reachability.reduce(bytes(wasmtime.wat2wasm(MODULE)), unavailable=0)


def test_live_slots_and_calls_keep_their_functions() -> None:
    reduced, reduction = _reduced()
    assert reduction.skipped is None
    assert reduction.functions_removed == 3  # $computed, $other_type, $dead
    store, instance, reports = _instantiate(reduced)
    call_slot = instance.exports(store)["call_slot"]
    assert call_slot(store, 1, 5) == 15  # type: ignore[operator]
    assert call_slot(store, 2, 5) == 25  # type: ignore[operator]
    assert instance.exports(store)["helper"](store) == 8  # type: ignore[operator]
    assert reports == []


def test_a_removed_function_called_anyway_reports_and_returns_zero() -> None:
    reduced, reduction = _reduced()
    assert reduction.slots_stubbed == 2
    store, instance, reports = _instantiate(reduced)
    slot = instance.exports(store)["computed_slot"](store)  # type: ignore[operator]
    assert instance.exports(store)["call_slot"](store, slot, 5) == 0  # type: ignore[operator]
    assert reports == [1]


def test_the_table_layout_is_kept() -> None:
    reduced, _ = _reduced()
    sections = {s.id: s for s in wasmbin.parse_sections(reduced)}
    reader = wasmbin.Reader(sections[wasmbin.SECTION_ELEMENT].payload)
    assert reader.u32() == 1 and reader.u32() == 0
    assert reader.init_expr() == b"\x41\x01\x0b"
    assert reader.u32() == 4


def test_reducing_is_deterministic() -> None:
    assert _reduced()[0] == _reduced()[0]


def test_a_table_changed_at_run_time_stops_the_stage() -> None:
    module = bytes(wasmtime.wat2wasm("""
      (module (table 2 funcref) (elem (i32.const 1) $f)
        (func $f)
        (func (export "set") (table.set (i32.const 0) (ref.func $f))))"""))
    reduced, reduction = reachability.reduce(module, unavailable=None)
    assert reduced == module
    assert reduction.skipped is not None and "table.set" in reduction.skipped


def test_position_independent_code_stops_the_stage() -> None:
    module = bytes(wasmtime.wat2wasm("""
      (module (import "env" "__table_base" (global $base i32))
        (table 2 funcref) (elem (global.get $base) $f)
        (func $f) (func (export "g") (result i32) (i32.add (global.get $base) (i32.const 0))))"""))
    reduced, reduction = reachability.reduce(module, unavailable=None)
    assert reduced == module
    assert reduction.skipped is not None and "position-independent" in reduction.skipped


def _small_words_by_brute_force(data: bytes, limit: int) -> set[int]:
    padded = b"\x00" * 3 + data + b"\x00" * 3
    words = {int.from_bytes(padded[i:i + 4], "little") for i in range(len(padded) - 3)}
    return {w for w in words if 0 < w < limit}


@given(st.lists(st.sampled_from([b"\x00", b"\x01", b"\x07", b"\xff", b"\x00\x00", b"\x02\x01"]),
                max_size=40).map(b"".join),
       st.sampled_from([2, 300, 600, 65536]))
def test_small_words_finds_every_word_at_every_offset(data: bytes, limit: int) -> None:
    assert reachability.small_words([data], limit) == _small_words_by_brute_force(data, limit)


def test_scan_reads_calls_constants_and_indirect_types() -> None:
    module = bytes(wasmtime.wat2wasm("""
      (module (type $t (func (result i32))) (table 1 funcref)
        (func $a (result i32) (i32.const 300))
        (func (result i32)
          (drop (f64.const 1.5)) (drop (i64.const -9))
          (block (br_table 0 0 (i32.const 0)))
          (drop (call $a))
          (call_indirect (type $t) (i32.const -1))))"""))
    code = next(s for s in wasmbin.parse_sections(module) if s.id == wasmbin.SECTION_CODE)
    start, end = wasmcode.body_ranges(code.payload)[1]
    scan = wasmcode.scan_body(code.payload, start, end)
    assert [target for target, _, _ in scan.function_refs] == [0]
    assert scan.indirect_types == {0}
    assert scan.constants == {0, 0xFFFFFFFF}


# $twin_a and $twin_b have the same type and body; $cousin the same body but another type.
# Both twins sit in table slots that C code could compare as pointers: slots 1 and 2.
TWINS = """
(module
  (type $ii (func (param i32) (result i32)))
  (table 3 funcref)
  (memory (export "memory") 1)
  (elem (i32.const 1) $twin_a $twin_b)
  (data (i32.const 100) "\\01\\00\\00\\00\\02\\00\\00\\00")
  (func $twin_a (type $ii) (i32.const 42))
  (func $twin_b (type $ii) (i32.const 42))
  (func $cousin (export "cousin") (result i32) (i32.const 42))
  (func (export "call_slot") (param $slot i32) (param $x i32) (result i32)
    (call_indirect (type $ii) (local.get $x) (local.get $slot)))
  (func (export "direct_b") (param i32) (result i32) (call $twin_b (local.get 0))))
"""


def test_identical_functions_share_one_body_and_keep_their_slots() -> None:
    reduced, reduction = reachability.reduce(bytes(wasmtime.wat2wasm(TWINS)), unavailable=None)
    assert reduction.functions_merged == 1  # $twin_b into $twin_a; $cousin's type differs
    sections = wasmbin.parse_sections(reduced)
    element = next(s for s in sections if s.id == wasmbin.SECTION_ELEMENT)
    table = reachability._element_segment(element.payload)
    assert table.functions[0] == table.functions[1]  # slots 1 and 2: one body ...
    assert table.offset == 1 and len(table.functions) == 2  # ... still two pointers
    store, instance, _ = _instantiate_without_imports(reduced)
    exports = instance.exports(store)
    assert exports["call_slot"](store, 1, 5) == 42  # type: ignore[operator]
    assert exports["call_slot"](store, 2, 5) == 42  # type: ignore[operator]
    assert exports["direct_b"](store, 7) == 42  # type: ignore[operator]
    assert exports["cousin"](store) == 42  # type: ignore[operator]


def _instantiate_without_imports(module: bytes) -> tuple[wasmtime.Store, wasmtime.Instance, None]:
    store = wasmtime.Store()
    return store, wasmtime.Instance(store, wasmtime.Module(store.engine, module), []), None

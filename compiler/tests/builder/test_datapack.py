"""The packed initial memory (builder/datapack.py + glue/unpack_memory.c): after the start
function runs, memory is byte for byte what the active segments wrote."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshwasm.builder import datapack, wasmbin
from meshwasm.builder.link import GLUE_DIR
from meshwasm_testkit.raw_c_filter import compile_raw_c_filter

PAGE = datapack.PAGE_SIZE
FIRST_OFFSET = 4 * PAGE  # above the test module's own data and stack


@pytest.fixture(scope="module")
def unpacker_module(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small module holding only the unpacker, as the glue compiles it into every build."""
    work = tmp_path_factory.mktemp("unpacker")
    source = work / "unpacker.c"
    source.write_text(f'#include "{GLUE_DIR / "unpack_memory.c"}"\n')
    return compile_raw_c_filter(source, work / "unpacker.wasm").read_bytes()


def with_segments(module: bytes, segments: list[tuple[int, bytes]]) -> bytes:
    """``module`` whose data section is exactly ``segments`` (active, memory 0)."""
    end = max(offset + len(data) for offset, data in segments)
    data_section = wasmbin.Section(wasmbin.SECTION_DATA, wasmbin.encode_vector(
        [wasmbin.encode_active_segment(offset, data) for offset, data in segments]))
    out = []
    for section in wasmbin.parse_sections(module):
        if section.id == wasmbin.SECTION_DATA:
            continue  # replaced by data_section, after the code
        elif section.id == wasmbin.SECTION_DATA_COUNT:
            section = wasmbin.Section(section.id, wasmbin.encode_u32(len(segments)))
        elif section.id == wasmbin.SECTION_MEMORY:
            flags, minimum, maximum = wasmbin.parse_memory(section.payload)
            section = wasmbin.Section(section.id, wasmbin.encode_memory(
                flags, max(minimum, -(-end // PAGE)), maximum))
        out.append(section)
        if section.id == wasmbin.SECTION_CODE:
            out.append(data_section)
    return wasmbin.encode_module(out)


def memory_after_instantiation(module: bytes) -> bytes:
    store = wasmtime.Store()
    instance = wasmtime.Instance(store, wasmtime.Module(store.engine, module), [])
    memory = instance.exports(store)["memory"]
    assert isinstance(memory, wasmtime.Memory)
    return bytes(memory.read(store, 0, memory.data_len(store)))


def assert_packing_preserves_memory(unpacker: bytes, segments: list[tuple[int, bytes]]) -> None:
    module = with_segments(unpacker, segments)
    packed_module, packed = datapack.pack_memory(module)
    assert not packed.skipped, packed.summary()
    expected = memory_after_instantiation(module)
    unpacked = memory_after_instantiation(packed_module)
    assert unpacked[:len(expected)] == expected
    assert not any(unpacked[len(expected):]), "the scratch pages were not zeroed again"

    sections = wasmbin.parse_sections(packed_module)
    assert any(s.id == wasmbin.SECTION_START for s in sections)
    exports = [e.name for s in sections if s.id == wasmbin.SECTION_EXPORT
               for e in wasmbin.parse_exports(s.payload)]
    assert datapack.UNPACK_EXPORT not in exports  # nothing can run it twice


def test_a_heap_like_image_unpacks_exactly(unpacker_module: bytes) -> None:
    text = b"PyUnicode 'hello' \x01\x00\x00\x00" * 500
    segments = [
        (FIRST_OFFSET, text),
        (FIRST_OFFSET + len(text) + 20, bytes(range(256)) * 40),  # short gap: one chunk
        (FIRST_OFFSET + 3 * PAGE, b"\x07" * 70_000),  # a long run: overlapping matches
        (FIRST_OFFSET + 6 * PAGE + 3, b"z"),  # after a long zero run: its own chunk
    ]
    assert_packing_preserves_memory(unpacker_module, segments)


_chunk = st.one_of(
    st.binary(min_size=1, max_size=3000),  # incompressible
    st.builds(lambda unit, times: unit * times,  # repeating: matches that overlap themselves
              st.binary(min_size=1, max_size=9), st.integers(1, 2000)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 9000), _chunk), min_size=1, max_size=12))
def test_any_image_unpacks_exactly(unpacker_module: bytes, parts: list[tuple[int, bytes]]) -> None:
    segments = []
    offset = FIRST_OFFSET
    for gap, data in parts:
        offset += gap
        segments.append((offset, data))
        offset += len(data)
    module = with_segments(unpacker_module, segments)
    packed_module, packed = datapack.pack_memory(module)
    if packed.skipped:  # incompressible data stays as it was, and says why
        assert packed_module == module and "smaller" in packed.skipped
        return
    assert memory_after_instantiation(packed_module)[:offset] == \
        memory_after_instantiation(module)[:offset]


def test_a_module_without_the_unpacker_is_left_alone(tmp_path: Path) -> None:
    source = tmp_path / "plain.c"
    source.write_text("char greeting[4096] = \"hello\";\n"
                      "__attribute__((export_name(\"get\"))) char *get(void) { return greeting; }\n")
    module = compile_raw_c_filter(source, tmp_path / "plain.wasm").read_bytes()
    packed_module, packed = datapack.pack_memory(module)
    assert packed_module == module
    assert packed.skipped == f"no {datapack.UNPACK_EXPORT} export"


def test_packing_is_deterministic(unpacker_module: bytes) -> None:
    module = with_segments(unpacker_module, [(FIRST_OFFSET, b"abc" * 5000)])
    assert datapack.pack_memory(module)[0] == datapack.pack_memory(module)[0]

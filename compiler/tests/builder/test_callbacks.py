"""builder/callbacks.py: the skip-mask bits name the callbacks the SDK's dispatcher can skip,
and dropping exports leaves the rest of the module alone."""

from __future__ import annotations

from proxy_wasm.context import SKIPPABLE

from meshwasm.builder import callbacks, wasmbin


def test_export_names_follow_the_sdks_bit_order() -> None:
    assert callbacks.SKIPPABLE_EXPORTS == tuple(f"proxy_{name}" for name in SKIPPABLE)


def test_mask_bits_name_the_unused_callbacks() -> None:
    assert callbacks.unused(0) == []
    assert callbacks.unused(0b110000) == ["proxy_on_log", "proxy_on_done"]


def _module(exports: list[str]) -> bytes:
    # one function type () -> (), one function, exported under each name
    sections = [
        wasmbin.Section(wasmbin.SECTION_TYPE, b"\x01\x60\x00\x00"),
        wasmbin.Section(wasmbin.SECTION_FUNCTION, b"\x01\x00"),
        wasmbin.Section(wasmbin.SECTION_EXPORT, wasmbin.encode_vector(
            [wasmbin.Export(name, 0, 0).encode() for name in exports])),
        wasmbin.Section(wasmbin.SECTION_CODE, b"\x01\x02\x00\x0b"),
    ]
    return wasmbin.encode_module(sections)


def test_dropping_exports_keeps_the_others_in_order() -> None:
    module = _module(["proxy_on_log", "proxy_on_delete", "meshwasm_skip_mask", "proxy_on_done"])
    dropped = callbacks.drop_exports(module, {"proxy_on_log", "meshwasm_skip_mask"})
    sections = wasmbin.parse_sections(dropped)
    export = next(s for s in sections if s.id == wasmbin.SECTION_EXPORT)
    assert [e.name for e in wasmbin.parse_exports(export.payload)] == ["proxy_on_delete",
                                                                       "proxy_on_done"]
    assert [s for s in sections if s.id != wasmbin.SECTION_EXPORT] == \
        [s for s in wasmbin.parse_sections(module) if s.id != wasmbin.SECTION_EXPORT]

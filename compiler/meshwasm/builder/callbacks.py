"""Unused callbacks: drop the exports of stream callbacks the filter does not override.

The runtime answers those without entering Python (exports.c ``skip_mask``), but Envoy still
calls into the VM for each of them, a body callback once per chunk.  Envoy (and the
harness) skip a callback a module does not export, with the same outcome the runtime gives:
Continue, and "done" for ``proxy_on_done``.  The mask is read from the initialized module
(``meshwasm_skip_mask``, bits in the order of ``proxy_wasm._dispatch.SKIPPABLE``), then that
export is dropped too.  Function indices do not change: only export entries go.
"""

from __future__ import annotations

from meshwasm.builder import wasmbin

MASK_EXPORT = "meshwasm_skip_mask"
# proxy_wasm.context.SKIPPABLE, as exports (same order: bit i is SKIPPABLE_EXPORTS[i])
SKIPPABLE_EXPORTS = (
    "proxy_on_request_body", "proxy_on_request_trailers", "proxy_on_response_body",
    "proxy_on_response_trailers", "proxy_on_log", "proxy_on_done", "proxy_on_request_headers",
    "proxy_on_response_headers",
)


def unused(mask: int) -> list[str]:
    """The callback exports ``mask`` (from ``meshwasm_skip_mask``) says the filter leaves to
    the runtime's default."""
    return [name for bit, name in enumerate(SKIPPABLE_EXPORTS) if mask & (1 << bit)]


def drop_exports(module: bytes, names: set[str]) -> bytes:
    """``module`` without the exports called ``names``."""
    sections = wasmbin.parse_sections(module)
    out = []
    for section in sections:
        if section.id == wasmbin.SECTION_EXPORT:
            kept = [e for e in wasmbin.parse_exports(section.payload) if e.name not in names]
            section = wasmbin.Section(section.id,
                                      wasmbin.encode_vector([e.encode() for e in kept]))
        out.append(section)
    return wasmbin.encode_module(out)

"""Stamp stage: record what was built, and from what, in a custom section of the module.

The section (``meshwasm.build``) is JSON with sorted keys and no timestamps, so two builds of
the same inputs stay byte-identical.  Envoy ignores custom sections.
"""

from __future__ import annotations

import json

from meshwasm.builder import wasmbin

SECTION_NAME = "meshwasm.build"


def stamp(module: bytes, metadata: dict[str, object]) -> bytes:
    sections = [s for s in wasmbin.parse_sections(module)
                if wasmbin.custom_section_name(s) != SECTION_NAME]
    payload = json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode()
    sections.append(wasmbin.custom_section(SECTION_NAME, payload))
    return wasmbin.encode_module(sections)


def read_stamp(module: bytes) -> dict[str, object] | None:
    """The build metadata of a module built by meshwasm, or None."""
    for section in wasmbin.parse_sections(module):
        if wasmbin.custom_section_name(section) == SECTION_NAME:
            reader = wasmbin.Reader(section.payload)
            reader.name()
            return json.loads(section.payload[reader.offset:])
    return None

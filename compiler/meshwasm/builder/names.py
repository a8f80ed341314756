"""Function names in a built module (``meshwasm build --names``, opt-in).

A built module carries no names: they cost Envoy memory for every copy of the module's bytes
and nothing at run time.  With ``--names`` it gets the standard ``name`` custom section
(function names), so a trap's backtrace in Envoy's log or in wasmtime names C functions
(``_PyEval_EvalFrameDefault``, ``proxy_on_request_headers``) instead of numbers, and
``bench/guest_profile.py`` can say where a request's instructions go.

Names come from the linker's map (which symbol each body is, in code-section order) and the
imports; the reachability stage's renumbering maps them to the final indices (a function
merged with an identical one goes by the first one's name).
"""

from __future__ import annotations

from meshwasm.builder import wasmbin
from meshwasm.builder.prune import map_functions

SECTION_NAME = "name"
_FUNCTION_NAMES = 1  # the name section's subsection of function names


def function_names(linked: bytes, link_map: str, renumbered: list[int]) -> dict[int, str]:
    """Final function index -> name, for the module linked as ``linked`` with ``link_map``;
    ``renumbered``: the reachability stage's old -> new indices (empty: unchanged)."""
    imports = [f"{item.module}.{item.name}" for item in
               wasmbin.parse_imports(wasmbin.parse_sections(linked))
               if item.kind == wasmbin.EXTERNAL_FUNC]
    before = imports + [function.symbol for function in map_functions(link_map)]
    names: dict[int, str] = {}
    for old, name in enumerate(before):
        new = renumbered[old] if renumbered else old
        if new >= 0:
            names.setdefault(new, name)
    return names


def with_names(module: bytes, names: dict[int, str]) -> bytes:
    """``module`` with a ``name`` section holding ``names`` (any earlier one replaced), last."""
    entries = [wasmbin.encode_u32(index) + wasmbin.encode_name(name)
               for index, name in sorted(names.items())]
    subsection = wasmbin.encode_vector(entries)
    payload = bytes([_FUNCTION_NAMES]) + wasmbin.encode_u32(len(subsection)) + subsection
    sections = [s for s in wasmbin.parse_sections(module)
                if wasmbin.custom_section_name(s) != SECTION_NAME]
    return wasmbin.encode_module([*sections, wasmbin.custom_section(SECTION_NAME, payload)])

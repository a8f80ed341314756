"""The deep-frozen object analysis (builder/deepfreeze.py) on a small made-up memory."""

from __future__ import annotations

import struct

from meshwasm.builder import deepfreeze

# A map in wasm-ld's layout: section lines, then input sections with their origin.
MAP = """\
    Addr      Off     Size Out     In      Symbol
       -     3141      100 CODE
       -     3143        c         /lib/libpython3.11.a(deepfreeze.o):(_Py_get_os_toplevel)
       -   1bc9f2     1000 DATA
     100      200       10         /lib/libpython3.11.a(other.o):(.data.root_table)
     110      210       10         /lib/libpython3.11.a(deepfreeze.o):(.data.os_toplevel)
     120      220       10         /lib/libpython3.11.a(deepfreeze.o):(.data.os_toplevel_consts)
     130      230       10         /lib/libpython3.11.a(deepfreeze.o):(.data.ntpath_toplevel)
     140      240       10         /lib/libpython3.11.a(deepfreeze.o):(.data.ntpath_toplevel_consts)
     150      250       10         /lib/libpython3.11.a(deepfreeze.o):(.data.kept_via_gc_head)
"""


def _memory(words: dict[int, int], size: int = 0x200) -> bytes:
    image = bytearray(size)
    for address, value in words.items():
        struct.pack_into("<I", image, address, value)
    return bytes(image)


def test_symbols_come_from_the_deepfreeze_object_only() -> None:
    names = [symbol.name for symbol in deepfreeze.data_symbols(MAP)]
    assert names == ["os_toplevel", "os_toplevel_consts", "ntpath_toplevel",
                     "ntpath_toplevel_consts", "kept_via_gc_head"]


def test_objects_reachable_from_live_memory_are_kept_and_the_rest_zeroed() -> None:
    memory = _memory({
        0x100: 0x110,        # a root (other.o) points at os_toplevel
        0x114: 0x120,        # os_toplevel points at its consts
        0x134: 0x140,        # ntpath_toplevel -> its consts, but nothing live points at ntpath
        0x1F0: 0x150 + 8,    # the heap points past kept_via_gc_head's GC header
        0x124: 0xDEAD, 0x138: 0xBEEF, 0x158: 0xF00D,
    })
    reduced, dropped = deepfreeze.drop_dead_objects(memory, MAP)
    assert sorted(dropped.symbols) == ["ntpath_toplevel", "ntpath_toplevel_consts"]
    assert dropped.bytes_zeroed == 0x20
    assert dropped.getters == {"_Py_get_ntpath_toplevel"}
    assert reduced[0x130:0x150] == bytes(0x20)
    assert reduced[0x100:0x130] == memory[0x100:0x130]  # live objects untouched
    assert reduced[0x150:] == memory[0x150:]


def test_an_integer_inside_an_object_that_is_not_its_address_keeps_nothing() -> None:
    # Tables of 16-bit numbers often read as addresses inside an object; only an object's
    # own address (or the address past its GC header) counts.
    memory = _memory({0x100: 0x134, 0x104: 0x146})
    _, dropped = deepfreeze.drop_dead_objects(memory, MAP)
    assert "ntpath_toplevel" in dropped.symbols and "os_toplevel" in dropped.symbols

"""Drop CPython's deep-frozen objects that nothing refers to after the snapshot.

CPython links the code objects of about twenty of its own modules as static data
(``deepfreeze.o``: importlib's bootstrap, ``os``, ``site``, ``ntpath``, ``zipimport``,
``runpy``…), some 590 KB in every module.  After the snapshot most of them are dead: a module
nobody imported is never imported at request time (imports run at build time), and the
top-level code of a module that was imported has already run.  What is still live is what
live memory points to: function code objects, their constants, interned names.

Which objects are live is found conservatively, as a garbage collector that cannot tell
pointers from integers would: every aligned 32-bit word outside the deep-frozen objects (the
rest of static data, the heap, the stack) that holds an address inside one of them keeps it,
and the words of a kept object are scanned in turn.  An integer that merely looks like such an
address keeps an object it need not keep; nothing live is ever dropped.  Dropped objects
become zero bytes, which the snapshot's data segments leave out.

Code refers to these objects in one place only: ``_Py_get_<module>_toplevel``, through which
the import system asks for a frozen module's code.  The modules the filter's code names are
imported while the module is built (``meshwasm_preload_modules``), and the runtime empties
CPython's frozen-module tables after start-up (glue/exports.c), so these functions are never
called again; where a module's code object is dropped, the prune stage still turns the
function into a stub that raises ``RuntimeError``, in case something calls it anyway.
"""

from __future__ import annotations

import bisect
import re
from array import array
from dataclasses import dataclass

DEEPFREEZE_OBJECT = "deepfreeze.o"
_WORD = 4
_GC_HEADER = 8  # sizeof(PyGC_Head) on wasm32: two pointers


@dataclass(frozen=True)
class DataSymbol:
    address: int
    size: int
    name: str  # the symbol, without its section prefix (".data.os_toplevel" -> "os_toplevel")


@dataclass
class Dropped:
    """What :func:`drop_dead_objects` removed."""

    symbols: list[str]
    bytes_zeroed: int
    getters: set[str]  # names of ``_Py_get_*_toplevel`` functions whose code object is gone

    def summary(self) -> str:
        return (f"{len(self.symbols)} deep-frozen objects, {self.bytes_zeroed} bytes; "
                f"{len(self.getters)} frozen modules no longer importable")


_SECTION_LINE = re.compile(r"^ *\S+ +\S+ +\S+ ([A-Z]+(?:\(.*\))?)$", re.MULTILINE)


def data_symbols(link_map: str, object_name: str = DEEPFREEZE_OBJECT) -> list[DataSymbol]:
    """The data symbols ``object_name`` contributed, per the linker's map, by address."""
    sections = list(_SECTION_LINE.finditer(link_map))
    symbols = []
    for header, following in zip(sections, sections[1:] + [None]):
        if header.group(1) != "DATA":
            continue
        body = link_map[header.end():following.start() if following else len(link_map)]
        for line in body.splitlines():
            if object_name not in line:
                continue
            parts = line.split()
            if len(parts) != 4 or ":(" not in parts[3]:
                continue
            source, _, input_section = parts[3].partition(":(")
            if not source.endswith((f"({object_name})", f"/{object_name}")):
                continue
            size = int(parts[2], 16)
            if size:
                name = input_section.rstrip(")").split(".", 2)[-1]
                symbols.append(DataSymbol(int(parts[0], 16), size, name))
    return sorted(symbols, key=lambda symbol: symbol.address)


def live_symbols(memory: bytes, symbols: list[DataSymbol]) -> set[int]:
    """Indices into ``symbols`` of the objects live memory can reach (see the module doc)."""
    if not symbols:
        return set()
    low, high = symbols[0].address, symbols[-1].address + symbols[-1].size
    words = array("I", memory[: len(memory) // _WORD * _WORD])
    # Roots: every word no deep-frozen object covers (the rest of static data, the heap,
    # the stack, and the padding between objects).
    roots: list[int] = []
    position = 0
    for symbol in symbols:
        roots += words[-(-position // _WORD):symbol.address // _WORD].tolist()
        position = max(position, symbol.address + symbol.size)
    roots += words[-(-position // _WORD):].tolist()

    # Where an object's address can point: its start, or past a GC header (static tuples
    # and other GC objects are stored after their PyGC_Head, _GC_HEADER bytes in).
    index_of = {symbol.address + offset: index for index, symbol in enumerate(symbols)
                for offset in (0, _GC_HEADER) if offset < symbol.size}

    live: set[int] = set()
    pending = [index_of[value] for value in index_of.keys() & set(roots)]
    while pending:
        index = pending.pop()
        if index in live:
            continue
        live.add(index)
        symbol = symbols[index]
        first = -(-symbol.address // _WORD)
        for value in words[first:(symbol.address + symbol.size) // _WORD]:
            if low <= value < high and value in index_of:
                pending.append(index_of[value])
    return live


def drop_dead_objects(memory: bytes, link_map: str) -> tuple[bytes, Dropped]:
    """``memory`` with the deep-frozen objects nothing live reaches set to zero."""
    symbols = data_symbols(link_map)
    live = live_symbols(memory, symbols)
    image = bytearray(memory)
    dropped = []
    zeroed = 0
    for index, symbol in enumerate(symbols):
        if index in live:
            continue
        image[symbol.address:symbol.address + symbol.size] = bytes(symbol.size)
        dropped.append(symbol.name)
        zeroed += symbol.size
    getters = {f"_Py_get_{name}" for name in dropped if name.endswith("_toplevel")}
    return bytes(image), Dropped(dropped, zeroed, getters)

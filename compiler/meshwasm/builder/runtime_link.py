"""The linked runtime: CPython, the glue and a builtin module table, without the filter.

The filter's own modules reach the module at build time, through the snapshotter's blob
(``freeze.encode_blob``, ``glue/frozen_blob.c``), so what is linked depends only on CPython,
the glue and which extension modules the filter imports.  It is linked once per such set and
kept in the cache with its link map; a rebuild after editing the filter links nothing, and
the snapshotter finds wasmtime's compiled copy of it in the cache too (``snapshot.py``).
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from meshwasm.builder import freeze, link
from meshwasm.builder.toolchain import WasiPython, cache_root
from meshwasm.builder.zig import zig_version
from meshwasm.files import write_atomically


@dataclass(frozen=True)
class LinkedRuntime:
    module: bytes
    link_map: str  # wasm-ld's map: which object each function and data symbol came from


def _key(inittab: str, objects: list[Path], python: WasiPython) -> str:
    digest = hashlib.sha256()
    for part in (inittab, python.key, zig_version(), *(path.name for path in objects)):
        digest.update(part.encode() + b"\0")
    digest.update(Path(link.__file__).read_bytes())  # the link command and its flags
    return digest.hexdigest()


def linked_runtime(builtins: list[str], python: WasiPython, *,
                   use_cache: bool = True) -> LinkedRuntime:
    """The runtime with ``builtins`` linked in: from the cache, else (or with ``use_cache``
    false) linked now and cached."""
    inittab = freeze.render_inittab_c(builtins)
    key = _key(inittab, link.glue_objects(python), python)
    folder = cache_root() / "runtime"
    module_path, map_path = folder / f"{key}.wasm", folder / f"{key}.map"
    if use_cache and module_path.exists() and map_path.exists():
        return LinkedRuntime(module_path.read_bytes(), map_path.read_text())
    with tempfile.TemporaryDirectory(prefix="meshwasm-link-") as scratch:
        inittab_c = Path(scratch) / "inittab.c"
        inittab_c.write_text(inittab)
        linked = link.link_module(inittab_c, python, Path(scratch) / "linked.wasm")
        module, link_map = linked.read_bytes(), Path(f"{linked}.map").read_text()
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(map_path, link_map.encode())  # the map first: the module marks it done
    write_atomically(module_path, module)
    return LinkedRuntime(module, link_map)

"""Link stage: compile the C glue and the builtin module table with zig, link with libpython.

zig cc puts its libc before the user's archives on the wasm-ld line, and wasi-libc and
libpython both define pthread stubs, so the first definition (libc's) clashes with
libpython's thread.o.  We therefore ask zig once where its wasm32-wasi libc lives and call
``zig wasm-ld`` ourselves with libpython first.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from meshwasm.builder.errors import BuildError
from meshwasm.builder.toolchain import WasiPython, cache_root
from meshwasm.builder.zig import ZigError, zig_cc, zig_executable, zig_version

GLUE_DIR = Path(__file__).resolve().parent / "glue"
GLUE_SOURCES = ("exports.c", "abi_module.c", "abi_convert.c", "abi_shared.c", "abi_grpc.c",
                "abi_headermap.c", "wasi_shim.c", "vm_limits.c", "unpack_memory.c",
                "fast_memory.c", "frozen_blob.c")
TARGET = ["-target", "wasm32-wasi"]
CFLAGS = ["-O2", "-DPY_SSIZE_T_CLEAN", "-fno-sanitize=undefined"]
STACK_SIZE = 1 << 20


@dataclass(frozen=True)
class ZigLibc:
    crt1_reactor: Path
    archives: tuple[Path, ...]  # libc.a, libzigc.a, libcompiler_rt.a, in link order


def zig_libc() -> ZigLibc:
    """Where zig keeps its wasm32-wasi libc (built on first use); remembered in the cache."""
    record = cache_root() / "zig" / f"libc-{zig_version()}.json"
    if record.exists():
        saved = json.loads(record.read_text())
        libc = ZigLibc(Path(saved["crt1_reactor"]), tuple(Path(p) for p in saved["archives"]))
        if libc.crt1_reactor.exists() and all(p.exists() for p in libc.archives):
            return libc
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / "probe.c"
        probe.write_text("int meshwasm_probe;\n")
        result = subprocess.run(
            [str(zig_executable()), "cc", "-v", *TARGET, "-mexec-model=reactor",
             "-o", str(Path(scratch) / "probe.wasm"), str(probe)],
            capture_output=True, text=True)
    line = next((l for l in result.stderr.splitlines() if l.startswith("wasm-ld ")), None)
    if result.returncode != 0 or line is None:
        raise BuildError(f"could not find zig's wasm32-wasi libc:\n{result.stderr}")
    words = line.split()
    crt1 = next(Path(w) for w in words if w.endswith("crt1-reactor.o"))
    archives = tuple(Path(w) for w in words
                     if re.search(r"lib(c|zigc|compiler_rt)\.a$", w))
    libc = ZigLibc(crt1, archives)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"crt1_reactor": str(crt1),
                                  "archives": [str(p) for p in archives]}))
    return libc


def compile_object(source: Path, python: WasiPython) -> Path:
    """Compile one C file to a cached object (keyed by its text, flags and headers)."""
    key = hashlib.sha256()
    key.update(source.read_bytes())
    key.update(json.dumps([TARGET, CFLAGS, python.key, zig_version()]).encode())
    for header in sorted(GLUE_DIR.glob("*.h")):
        key.update(header.read_bytes())
    target = cache_root() / "objects" / f"{source.stem}-{key.hexdigest()[:24]}.o"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".o.partial")
    try:
        zig_cc([*TARGET, *CFLAGS, f"-I{python.include}", f"-I{GLUE_DIR}",
                "-c", str(source), "-o", str(partial)])
    except ZigError as error:
        raise BuildError(f"compiling {source.name} failed: {error}") from None
    partial.replace(target)
    return target


def glue_objects(python: WasiPython) -> list[Path]:
    """The glue's objects (compiled once per text; their names carry that hash)."""
    return [compile_object(GLUE_DIR / name, python) for name in GLUE_SOURCES]


def link_module(inittab_c: Path, python: WasiPython, output: Path) -> Path:
    """Link glue + builtin module table + libpython + zig's libc into ``output``.

    A link map (which object each function came from) is written beside it as
    ``output.map``; the prune stage reads it.
    """
    objects = [*glue_objects(python), compile_object(inittab_c, python)]
    libc = zig_libc()
    command = [
        str(zig_executable()), "wasm-ld",
        "--export-memory", "--stack-first", "--no-entry", "--gc-sections", "--strip-all",
        "--wrap=free",  # zeroes freed blocks while the snapshot is taken (wasi_shim.c)
        "-z", f"stack-size={STACK_SIZE}", f"-Map={output}.map",
        "-o", str(output), str(libc.crt1_reactor), *map(str, objects),
        str(python.libpython), *map(str, python.support_archives), *map(str, libc.archives),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"linking failed:\n{result.stderr.strip()}")
    return output

"""Snapshot stage: run the interpreter's start-up once, at build time, and keep the result.

The linked module is instantiated under wasmtime with stand-ins for the proxy's host calls,
``meshwasm_initialize`` starts CPython and imports the filter, and the resulting linear
memory and mutable globals become the initial state of a new module.  Envoy then starts a
VM by copying data segments: no Python start-up, no imports run in the proxy.

(We do this ourselves rather than with wizer, because wizer's command line can only provide
WASI to the module, and ours imports ``proxy_*`` functions.)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import wasmtime

from meshwasm.builder import callbacks, wasmbin
from meshwasm.builder.errors import BuildError
from meshwasm.builder.toolchain import cache_root
from meshwasm.files import write_atomically

INIT_EXPORT = "meshwasm_initialize"
ALLOCATE_EXPORT = "proxy_on_memory_allocate"  # malloc: where the blob goes
WASI_REACTOR_INIT = "_initialize"
_GLOBAL_EXPORT_PREFIX = "__meshwasm_snapshot_global_"
PAGE_SIZE = 65536
# A data segment's header costs about 8 bytes, so a zero run longer than 16 bytes is cheaper
# left out (Python objects are full of NULL fields and allocator slack: on hello this halves
# the zeros the data section carries).  Segments stay below V8's limit of 100,000 per module
# (kV8MaxWasmDataSegments) with room to spare: past _MAX_SEGMENTS the gap doubles.
_MIN_ZERO_GAP = 16
_MAX_SEGMENTS = 50_000
_VALUE_OPCODES = {0x7F: 0x41, 0x7E: 0x42}  # i32 -> i32.const, i64 -> i64.const


UNIMPLEMENTED = 12  # the status host calls get while the filter is imported at build time


class SnapshotError(BuildError):
    """Initialization failed inside the module; ``log`` holds what it printed."""

    def __init__(self, message: str, log: list[str], host_calls: list[str] | None = None) -> None:
        self.log = log
        details = "\n".join(log)
        text = f"{message}\n{details}" if details else message
        if host_calls:
            text += ("\nThe filter called the proxy while being imported at build time ("
                     + ", ".join(sorted(set(host_calls))) + "): there is no proxy then. "
                     "Define metrics, queues, timers and other host state in on_vm_start or "
                     "on_configure instead.")
        super().__init__(text)


@dataclass
class InitRun:
    memory: bytes
    globals: dict[int, int]  # defined-global index -> value
    log: list[str] = field(default_factory=list)
    host_calls: list[str] = field(default_factory=list)
    #: callback exports the filter leaves to the runtime's default (see builder/callbacks.py)
    unused_callbacks: list[str] = field(default_factory=list)


def _instrument(sections: list[wasmbin.Section]) -> bytes:
    """The same module, also exporting every defined mutable global so we can read it."""
    imported = wasmbin.imported_global_count(sections)
    out = []
    globals_: list[wasmbin.Global] = []
    for section in sections:
        if section.id == wasmbin.SECTION_GLOBAL:
            globals_ = wasmbin.parse_globals(section.payload)
    for section in sections:
        if section.id == wasmbin.SECTION_EXPORT:
            exports = wasmbin.parse_exports(section.payload)
            exports += [wasmbin.Export(f"{_GLOBAL_EXPORT_PREFIX}{index}",
                                       wasmbin.EXTERNAL_GLOBAL, imported + index)
                        for index, item in enumerate(globals_) if item.mutable]
            section = wasmbin.Section(section.id, wasmbin.encode_vector(
                [export.encode() for export in exports]))
        out.append(section)
    return wasmbin.encode_module(out)


def _stub_imports(linker: wasmtime.Linker, module: wasmtime.Module, log: list[str],
                  host_calls: list[str]) -> None:
    """Stand-ins for the host: proxy_log is captured; other proxy_* calls are recorded and
    answer Unimplemented; anything else (WASI) answers zero."""
    for item in module.imports:
        if not isinstance(item.type, wasmtime.FuncType):
            raise BuildError(f"the module imports a non-function {item.module}.{item.name}")
        func_type = item.type
        if item.module == "env" and item.name == "proxy_log":
            def proxy_log(caller: wasmtime.Caller, level: int, pointer: int, size: int) -> int:
                memory = caller.get("memory")
                assert isinstance(memory, wasmtime.Memory)
                log.append(memory.read(caller, pointer, pointer + size).decode("utf-8", "replace"))
                return 0
            linker.define_func(item.module, item.name, func_type, proxy_log, access_caller=True)
            continue
        results = func_type.results
        if item.module == "env" and item.name.startswith("proxy_") and len(results) == 1:
            def refuse(*_args: int, _name: str = item.name) -> int:
                host_calls.append(_name)
                return UNIMPLEMENTED
            linker.define_func(item.module, item.name, func_type, refuse)
            continue

        def answer_zero(*_args: int, _n: int = len(results)) -> object:
            return None if _n == 0 else (0 if _n == 1 else [0] * _n)
        linker.define_func(item.module, item.name, func_type, answer_zero)


def _compiled(engine: wasmtime.Engine, instrumented: bytes) -> wasmtime.Module:
    """wasmtime's compiled copy of ``instrumented``, kept in the cache: the linked runtime
    is the same for every build with the same builtins (``runtime_link.py``), and compiling
    it took most of a rebuild's time.  A copy this wasmtime cannot load is compiled again.
    (A compiled copy is native code: the cache is trusted as the toolchain it holds is.)"""
    key = hashlib.sha256(instrumented + f"opt_level={_OPT_LEVEL}".encode()).hexdigest()
    path = cache_root() / "snapshotter" / f"{key}.cwasm"
    if path.exists():
        try:
            return wasmtime.Module.deserialize_file(engine, str(path))
        except wasmtime.WasmtimeError:
            pass  # another wasmtime version wrote it
    module = wasmtime.Module(engine, instrumented)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, bytes(module.serialize()))
    return module


# Start-up runs once per build: compiling it fast beats running it fast (~3x quicker).
_OPT_LEVEL = "none"


def _engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.cranelift_opt_level = _OPT_LEVEL
    return wasmtime.Engine(config)


def run_initialization(module_bytes: bytes, blob: bytes) -> InitRun:
    """Instantiate the linked module, hand it the filter's modules (``blob``, see
    ``freeze.encode_blob``), run its initializer, and capture memory and globals."""
    sections = wasmbin.parse_sections(module_bytes)
    engine = _engine()
    module = _compiled(engine, _instrument(sections))
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    log: list[str] = []
    host_calls: list[str] = []
    _stub_imports(linker, module, log, host_calls)
    instance = linker.instantiate(store, module)
    exports = instance.exports(store)
    memory = exports["memory"]
    assert isinstance(memory, wasmtime.Memory)
    try:
        if WASI_REACTOR_INIT in exports:
            exports[WASI_REACTOR_INIT](store)  # type: ignore[operator]
        address = exports[ALLOCATE_EXPORT](store, len(blob))  # type: ignore[operator]
        if not address:
            raise SnapshotError("the module could not allocate memory for the filter's code",
                                log, host_calls)
        memory.write(store, blob, address)
        status = exports[INIT_EXPORT](store, address, len(blob))  # type: ignore[operator]
    except wasmtime.Trap as trap:
        raise SnapshotError(f"the module trapped while starting Python: {trap}", log,
                            host_calls) from None
    if status != 0:
        raise SnapshotError("the filter failed to load inside the module", log, host_calls)
    data = memory.read(store, 0, memory.data_len(store))
    values = {}
    for name in exports:
        if name.startswith(_GLOBAL_EXPORT_PREFIX):
            item = exports[name]
            assert isinstance(item, wasmtime.Global)
            values[int(name[len(_GLOBAL_EXPORT_PREFIX):])] = int(item.value(store))
    mask = exports.get(callbacks.MASK_EXPORT)
    unused = callbacks.unused(int(mask(store))) if isinstance(mask, wasmtime.Func) else []
    return InitRun(bytes(data), values, log, host_calls, unused)


def _data_segments(memory: bytes, min_gap: int = _MIN_ZERO_GAP) -> list[bytes]:
    """Active data segments covering every non-zero byte of ``memory``."""
    segments = []
    position = 0
    for gap in re.finditer(rb"\x00{%d,}" % min_gap, memory):
        if gap.start() > position:
            segments.append(wasmbin.encode_active_segment(position, memory[position:gap.start()]))
            if len(segments) > _MAX_SEGMENTS:
                return _data_segments(memory, min_gap * 2)
        position = gap.end()
    if position < len(memory):
        tail = memory[position:].rstrip(b"\x00")
        if tail:
            segments.append(wasmbin.encode_active_segment(position, tail))
    return segments


def apply_snapshot(module_bytes: bytes, run: InitRun) -> bytes:
    """``module_bytes`` with ``run``'s memory and globals as its initial state, and without
    the initializer exports (so no host runs start-up twice)."""
    sections = wasmbin.parse_sections(module_bytes)
    segments = _data_segments(run.memory)
    pages = len(run.memory) // PAGE_SIZE
    out = []
    for section in sections:
        if section.id == wasmbin.SECTION_GLOBAL:
            items = wasmbin.parse_globals(section.payload)
            for index, value in run.globals.items():
                opcode = _VALUE_OPCODES.get(items[index].value_type)
                if opcode is None:
                    raise BuildError(f"cannot snapshot a global of type 0x{items[index].value_type:02x}")
                items[index].init = bytes([opcode]) + wasmbin.encode_s64(value) + b"\x0b"
            section = wasmbin.Section(section.id, wasmbin.encode_vector(
                [wasmbin.encode_global(item) for item in items]))
        elif section.id == wasmbin.SECTION_MEMORY:
            flags, _minimum, maximum = wasmbin.parse_memory(section.payload)
            section = wasmbin.Section(section.id, wasmbin.encode_memory(flags, pages, maximum))
        elif section.id == wasmbin.SECTION_EXPORT:
            exports = [export for export in wasmbin.parse_exports(section.payload)
                       if export.name not in (INIT_EXPORT, WASI_REACTOR_INIT)]
            section = wasmbin.Section(section.id, wasmbin.encode_vector(
                [export.encode() for export in exports]))
        elif section.id == wasmbin.SECTION_DATA_COUNT:
            section = wasmbin.Section(section.id, wasmbin.encode_u32(len(segments)))
        elif section.id == wasmbin.SECTION_DATA:
            section = wasmbin.Section(section.id, wasmbin.encode_vector(segments))
        elif section.id == wasmbin.SECTION_START:
            raise BuildError("the linked module has a start function; it cannot be snapshotted")
        out.append(section)
    return wasmbin.encode_module(out)


def initialized_module(module_bytes: bytes, run: InitRun) -> bytes:
    """``module_bytes`` starting from ``run``'s state, without the exports of callbacks the
    filter does not override (builder/callbacks.py)."""
    initialized = apply_snapshot(module_bytes, run)
    dropped = {*run.unused_callbacks, callbacks.MASK_EXPORT}
    return callbacks.drop_exports(initialized, dropped)

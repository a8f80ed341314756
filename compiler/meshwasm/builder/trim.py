"""Opt-in trimming guided by traffic (``meshwasm build --trim-to TRAFFIC.yaml``).

Reachability (``reachability.py``) keeps everything Python's dynamic dispatch could call,
which is most of CPython.  A user who accepts the risk can instead keep only what their own
traffic runs: the module is instrumented (each function body first stores a 1 in a coverage
byte), the traffic files are replayed against it in the harness, and every function that
never ran becomes a stub that raises ``RuntimeError`` inside Python (through
``meshwasm_compiler_unavailable``) and returns the C API's error value.  A request that
reaches a trimmed function therefore fails by the filter's fail policy (``fail_open`` /
``error_status``), as any raising callback does; it never traps the VM or the proxy.  The
reachability stage then drops what the stubs no longer call.

What is never trimmed, because traffic cannot be trusted to reach it: the module's exports,
libc (``malloc`` grows the heap only under load), CPython's allocator, garbage collector,
evaluation loop and error machinery, the glue, and bodies too small to matter.

The coverage bytes live at the far end of the stack (the module is linked ``--stack-first``:
the stack grows down from 1 MiB towards address 0), used only by the instrumented copy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from meshwasm.builder import wasmbin
from meshwasm.builder.wasmcode import body_ranges
from meshwasm.builder.errors import BuildError
from meshwasm.builder.prune import MapFunction, function_results, map_functions, stub_body

COVERAGE_BASE = 4096
# Objects whose functions are always kept (see the module docstring).
# (The glue's objects carry the hash of their text: ``exports-<hash>.o``.)
KEPT_OBJECTS = re.compile(
    r"^(obmalloc|gcmodule|ceval|errors|pystate|pyerrors|exceptions|exports|vm_limits|abi_\w+"
    r"|wasi_shim|fast_memory|frozen_blob|inittab)(-[0-9a-f]+)?\.o$")
KEPT_ARCHIVES = ("libc.a", "libzigc.a", "libcompiler_rt.a")
SMALL_BODY = 24  # bytes: a body this small costs V8 nothing worth the risk
# The traffic is replayed this many times: a proxy serves the same requests over and over,
# and steady state runs code a first pass does not (free lists refilled, tables resized).
PASSES = 20


@dataclass
class TrimReport:
    traffic: list[str]
    functions: int
    ran: int
    kept: int
    stubbed: int

    def summary(self) -> str:
        return (f"trimmed to {', '.join(self.traffic)}: {self.ran} of {self.functions} "
                f"functions ran, {self.stubbed} never-run functions became stubs (opt-in)")


def _after_locals(body: bytes) -> int:
    reader = wasmbin.Reader(body)
    for _ in range(reader.u32()):
        reader.u32()
        reader.offset += 1  # value type
    return reader.offset


def instrument(module: bytes) -> bytes:
    """``module`` with every defined function marking its coverage byte on entry."""
    sections = wasmbin.parse_sections(module)
    out = []
    for section in sections:
        if section.id == wasmbin.SECTION_CODE:
            bodies = []
            for index, (start, end) in enumerate(body_ranges(section.payload)):
                body = section.payload[start:end]
                split = _after_locals(body)
                mark = (b"\x41" + wasmbin.encode_s64(COVERAGE_BASE + index)  # i32.const addr
                        + b"\x41\x01\x3a\x00\x00")  # i32.const 1; i32.store8 align=0 offset=0
                new = body[:split] + mark + body[split:]
                bodies.append(wasmbin.encode_u32(len(new)) + new)
            section = wasmbin.Section(section.id, wasmbin.encode_vector(bodies))
        out.append(section)
    return wasmbin.encode_module(out)


def functions_run(module: bytes, traffic_paths: list[Path]) -> set[int]:
    """Defined-function indices that ran while ``traffic_paths`` were replayed."""
    from meshwasm.harness.host import HostOptions
    from meshwasm.harness.replay import start_workers
    from meshwasm.replay.traffic import load_traffic

    count = len(body_ranges(next(s for s in wasmbin.parse_sections(module)
                             if s.id == wasmbin.SECTION_CODE).payload))
    if COVERAGE_BASE + count > 512 * 1024:
        raise BuildError("too many functions to trim by traffic")
    ran: set[int] = set()
    with TemporaryDirectory(prefix="meshwasm-trim-") as scratch:
        instrumented = Path(scratch) / "instrumented.wasm"
        instrumented.write_bytes(instrument(module))
        for path in traffic_paths:
            traffic = load_traffic(path)
            pool = start_workers(instrumented, traffic, HostOptions())
            for _ in range(PASSES):
                for exchange in traffic.exchanges:
                    pool.run(exchange)
            for runner in pool.runners:
                marks = runner.guest.memory.read(COVERAGE_BASE, count) or b""
                ran.update(index for index, byte in enumerate(marks) if byte)
    return ran


def trim(module: bytes, link_map: str, traffic_paths: list[Path],
         unavailable: int) -> tuple[bytes, TrimReport]:
    """``module`` (snapshotted and pruned, indices as linked) with every function that
    neither ran under the traffic nor is always kept replaced by a raising stub."""
    ran = functions_run(module, traffic_paths)
    origin = map_functions(link_map)
    sections = wasmbin.parse_sections(module)
    imported, results = function_results(sections)
    exported = {e.index - imported for s in sections if s.id == wasmbin.SECTION_EXPORT
                for e in wasmbin.parse_exports(s.payload) if e.kind == wasmbin.EXTERNAL_FUNC}
    out, stubbed = [], 0
    for section in sections:
        if section.id == wasmbin.SECTION_CODE:
            ranges = body_ranges(section.payload)
            if len(ranges) != len(origin):
                raise BuildError("the link map does not match the module; cannot trim")
            bodies = []
            for index, (start, end) in enumerate(ranges):
                keep = (index in ran or index in exported or end - start <= SMALL_BODY
                        or index + imported == unavailable or _always_kept(origin[index]))
                if keep:
                    bodies.append(wasmbin.encode_u32(end - start) + section.payload[start:end])
                else:
                    bodies.append(stub_body(results[index], unavailable))
                    stubbed += 1
            section = wasmbin.Section(section.id, wasmbin.encode_vector(bodies))
        out.append(section)
    report = TrimReport([str(p) for p in traffic_paths], len(origin), len(ran),
                        len(origin) - stubbed, stubbed)
    return wasmbin.encode_module(out), report


def _always_kept(function: MapFunction) -> bool:
    return bool(KEPT_OBJECTS.match(function.object)) or function.archive in KEPT_ARCHIVES

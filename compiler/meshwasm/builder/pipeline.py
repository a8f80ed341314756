"""``meshwasm build``: filter.py -> one proxy-wasm module, stage by stage.

analyze -> freeze -> link -> snapshot (dead deep-frozen objects dropped) -> prune ->
(trim, opt-in) -> reachability -> data packed -> stamp -> atomic write.  The whole result is cached by the hash of every input (sources of all bundled
modules, the glue, the toolchain pins), so rebuilding an unchanged filter is a copy, and two
builds of the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import proxy_wasm

from meshwasm import __version__
from meshwasm.builder import (datapack, deepfreeze, freeze, link, prune, reachability,
                            runtime_link, snapshot, stamp, trim)
from meshwasm.builder import names as function_names
from meshwasm.builder.analyze import analyze
from meshwasm.builder.modules import Closure
from meshwasm.builder.resources import add_resources
from meshwasm.builder.site_packages import installed_package_dirs
from meshwasm.builder.progress import Progress, Silent
from meshwasm.builder.toolchain import WasiPython, cache_root, wasi_python
from meshwasm.builder.zig import zig_version
from meshwasm.files import write_atomically  # re-exported: deploy and bench use it from here

SDK_DIR = Path(proxy_wasm.__file__).resolve().parent


@dataclass
class BuildResult:
    output: Path
    size: int
    cached: bool
    closure: Closure
    timings: dict[str, float] = field(default_factory=dict)
    startup_log: list[str] = field(default_factory=list)
    reduction: reachability.Reduction | None = None  # None when the result came from the cache


def _input_digest(closure: Closure, python: WasiPython, trim_to: list[Path],
                  names: bool = False) -> str:
    digest = hashlib.sha256()
    for traffic in trim_to:  # a trimmed module depends on the traffic it was trimmed to
        digest.update(b"trim\0" + traffic.read_bytes())
    if names:
        digest.update(b"names\0")
    digest.update(json.dumps({
        "meshwasm": __version__, "python": python.key, "zig": zig_version(),
        "cflags": link.CFLAGS, "stack": link.STACK_SIZE,
        "builtins": freeze.builtin_modules(closure)}).encode())
    for name in sorted(closure.sources):
        module = closure.sources[name]
        digest.update(f"\0{name}\0{module.display_name}\0{module.is_package}\0".encode())
        digest.update(module.path.read_bytes())
    # The glue and the build stages themselves: changing how we build changes the result.
    build_dir = Path(__file__).resolve().parent
    for part in sorted([*link.GLUE_DIR.iterdir(), *build_dir.glob("*.py")]):
        digest.update(part.name.encode() + part.read_bytes())
    return digest.hexdigest()


def build_filter(filter_path: Path, output: Path, *, use_cache: bool = True,
                 progress: Progress | None = None,
                 trim_to: list[Path] | None = None, names: bool = False) -> BuildResult:
    """Compile ``filter_path`` into the proxy-wasm module ``output``.

    ``use_cache=False`` rebuilds every stage, linking included (the toolchain and C objects
    stay cached).
    ``progress`` hears of each stage (the first build compiles CPython: minutes).
    ``trim_to``: traffic files; functions they never run become raising stubs (opt-in,
    see ``trim.py``).  ``names``: keep function names in the module (``names.py``).
    """
    progress = progress or Silent()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    python = wasi_python(progress)
    closure = analyze(filter_path.resolve(), SDK_DIR, python.stdlib, python.builtin_modules,
                      installed_package_dirs())
    add_resources(closure, filter_path.resolve().parent)
    timings["analyze"] = time.perf_counter() - started

    digest = _input_digest(closure, python, trim_to or [], names)
    cached = cache_root() / "modules" / f"{digest}.wasm"
    if use_cache and cached.exists():
        data = cached.read_bytes()
        write_atomically(output, data)
        timings["total"] = time.perf_counter() - started
        return BuildResult(output, len(data), True, closure, timings)

    with tempfile.TemporaryDirectory(prefix="meshwasm-build-") as scratch:
        progress.step(f"freezing {len(closure.sources)} Python modules")
        mark = time.perf_counter()
        bytecode = freeze.compile_bytecode(closure, Path(scratch) / "bytecode")
        blob = freeze.encode_blob(closure, bytecode)
        timings["freeze"] = time.perf_counter() - mark

    progress.step("linking with CPython")
    mark = time.perf_counter()
    runtime = runtime_link.linked_runtime(freeze.builtin_modules(closure), python,
                                          use_cache=use_cache)
    linked, link_map = runtime.module, runtime.link_map
    timings["link"] = time.perf_counter() - mark

    progress.step("starting Python at build time (snapshot)")
    mark = time.perf_counter()
    run = snapshot.run_initialization(linked, blob)
    # Zero bytes are left out of the module's data: clear what no live object needs.
    run.memory, dead_frozen = deepfreeze.drop_dead_objects(run.memory, link_map)
    initialized = snapshot.initialized_module(linked, run)
    timings["snapshot"] = time.perf_counter() - mark

    progress.step("removing code the module cannot call")
    mark = time.perf_counter()
    unavailable = prune.unavailable_function(initialized)
    getters = frozenset((deepfreeze.DEEPFREEZE_OBJECT, name) for name in dead_frozen.getters)
    initialized = prune.prune(link_map, initialized, freeze.builtin_modules(closure), getters)
    timings["prune"] = time.perf_counter() - mark

    trimmed = None
    if trim_to:
        progress.step("trimming to the functions your traffic runs (--trim-to)")
        mark = time.perf_counter()
        assert unavailable is not None  # prune succeeded, so the export was there
        initialized, trimmed = trim.trim(initialized, link_map, trim_to, unavailable)
        timings["trim"] = time.perf_counter() - mark

    mark = time.perf_counter()
    initialized, reduction = reachability.reduce(initialized, unavailable)
    timings["reachability"] = time.perf_counter() - mark

    progress.step("packing the initial memory")
    mark = time.perf_counter()
    initialized, packed = datapack.pack_memory(initialized)
    timings["pack"] = time.perf_counter() - mark

    if names:
        initialized = function_names.with_names(initialized, function_names.function_names(
            linked, link_map, reduction.renumbered))

    filter_source = filter_path.read_bytes()
    data = stamp.stamp(initialized, {
        "meshwasm": __version__,
        "python": python.description,
        "filter": closure.filter_module,
        "filter_sha256": hashlib.sha256(filter_source).hexdigest(),
        "inputs_sha256": digest,
        "modules": sorted(closure.sources),
        "builtins": freeze.builtin_modules(closure),
        "reachability": reduction.summary(),
        "deepfreeze": dead_frozen.summary(),
        "data": packed.summary(),
        **({"trimmed": trimmed.summary()} if trimmed else {}),
        **({"names": True} if names else {}),
    })
    write_atomically(cached, data)
    write_atomically(output, data)
    timings["total"] = time.perf_counter() - started
    return BuildResult(output, len(data), False, closure, timings, run.log, reduction)

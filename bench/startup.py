"""Start-up figures for a compiled filter, as ratios against a peer measured in the same run.

Prints: module size (raw, gzip; code vs data), cold and warm build time, wasmtime compile and
instantiate time, and Envoy's time to ready with no filter, with the raw-ABI C filter
(runtime_tests/other_sdk/hello_c.c) and with the compiled Python filter.

    python bench/startup.py [FILTER.py] [--runs N]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from pathlib import Path

import wasmtime

from meshwasm.builder import wasmbin
from meshwasm.builder.pipeline import build_filter
from meshwasm_testkit.raw_c_filter import compile_raw_c_filter
from meshwasm.deploy.envoy.config import EnvoyOptions
from meshwasm.deploy.envoy.process import start_envoy
from meshwasm.deploy.envoy.upstream import run_upstream

PROJECT = Path(__file__).resolve().parent.parent


def median_seconds(action, runs: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def section_sizes(module: bytes) -> dict[str, int]:
    names = {wasmbin.SECTION_CODE: "code", wasmbin.SECTION_DATA: "data"}
    sizes: dict[str, int] = {}
    for section in wasmbin.parse_sections(module):
        key = names.get(section.id, "other")
        sizes[key] = sizes.get(key, 0) + len(section.payload)
    return sizes


def envoy_ready_seconds(module: Path | None, runs: int) -> float:
    samples = []
    with run_upstream() as upstream:
        for _ in range(runs):
            options = EnvoyOptions(upstream_port=upstream.port, module=module)
            with start_envoy(options, wasm_log_level="info") as envoy:
                samples.append(envoy.ready_seconds)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filter", nargs="?", type=Path,
                        default=PROJECT / "examples" / "hello" / "filter.py")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        module_path = work / "filter.wasm"
        cold = median_seconds(lambda: build_filter(args.filter, module_path, use_cache=False),
                              max(1, args.runs // 2))
        warm = median_seconds(lambda: build_filter(args.filter, module_path), args.runs)
        c_module = compile_raw_c_filter(PROJECT / "runtime_tests" / "other_sdk" / "hello_c.c",
                                        work / "hello_c.wasm")
        data = module_path.read_bytes()
        sizes = section_sizes(data)

        engine = wasmtime.Engine()
        compile_time = median_seconds(lambda: wasmtime.Module(engine, data), args.runs)
        module = wasmtime.Module(engine, data)
        linker = wasmtime.Linker(engine)
        for item in module.imports:
            linker.define_func(item.module, item.name, item.type,  # type: ignore[arg-type]
                               lambda *a: 0)
        instantiate = median_seconds(
            lambda: linker.instantiate(wasmtime.Store(engine), module), args.runs * 4)
        memory_pages = wasmbin.parse_memory(next(
            s.payload for s in wasmbin.parse_sections(data) if s.id == wasmbin.SECTION_MEMORY))[1]

        ready_none = envoy_ready_seconds(None, args.runs)
        ready_c = envoy_ready_seconds(c_module, args.runs)
        ready_python = envoy_ready_seconds(module_path, args.runs)

    print(f"filter: {args.filter}")
    print(f"module size:        {len(data) / 1e6:.2f} MB raw, {len(gzip.compress(data)) / 1e6:.2f} MB gzip"
          f" (code {sizes.get('code', 0) / 1e6:.2f} MB, data {sizes.get('data', 0) / 1e6:.2f} MB)")
    print(f"initial memory:     {memory_pages * 65536 / 2**20:.2f} MiB per VM")
    print(f"build:              cold {cold:.2f} s, warm (cached) {warm:.3f} s")
    print(f"wasmtime:           compile {compile_time:.2f} s, instantiate {instantiate * 1e3:.2f} ms")
    print(f"envoy ready:        no filter {ready_none:.2f} s, C filter {ready_c:.2f} s, "
          f"python filter {ready_python:.2f} s")
    print(f"ratios:             python/no-filter {ready_python / ready_none:.1f}x, "
          f"python/C {ready_python / ready_c:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the reachability stage buys: the same filter built with and without it, in one run.

Prints code section and module size, the stage's own time, wasmtime's compile time, and
Envoy's time to ready (runs alternate between the two modules, so load on the machine
hits both alike).

    python bench/reachability.py [FILTER.py] [--runs N]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import wasmtime

from meshwasm.builder import reachability, wasmbin
from meshwasm.builder.pipeline import build_filter
from meshwasm.deploy.envoy.config import EnvoyOptions
from meshwasm.deploy.envoy.process import start_envoy
from meshwasm.deploy.envoy.upstream import run_upstream

PROJECT = Path(__file__).resolve().parent.parent


def code_size(module: bytes) -> int:
    return sum(len(s.payload) for s in wasmbin.parse_sections(module)
               if s.id == wasmbin.SECTION_CODE)


def compile_seconds(module: bytes, runs: int) -> float:
    samples = []
    for _ in range(runs):
        engine = wasmtime.Engine()  # a fresh engine: no compiled-code reuse between runs
        started = time.perf_counter()
        wasmtime.Module(engine, module)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filter", nargs="?", type=Path,
                        default=PROJECT / "examples" / "hello" / "filter.py")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        with_stage = build_filter(args.filter, work / "with.wasm", use_cache=False)
        with mock.patch.object(reachability, "reduce",
                               lambda module, _unavailable: (module, reachability.Reduction(
                                   skipped="disabled by the benchmark"))):
            without_stage = build_filter(args.filter, work / "without.wasm", use_cache=False)
        modules = {"without": without_stage.output.read_bytes(),
                   "with": with_stage.output.read_bytes()}
        ready: dict[str, list[float]] = {name: [] for name in modules}
        with run_upstream() as upstream:
            for _ in range(args.runs):
                for name in modules:
                    options = EnvoyOptions(upstream_port=upstream.port,
                                           module=work / f"{name}.wasm")
                    with start_envoy(options, wasm_log_level="info") as envoy:
                        ready[name].append(envoy.ready_seconds)

    print(f"filter: {args.filter}")
    if with_stage.reduction is not None:
        print(with_stage.reduction.describe())
    print(f"stage time:         {with_stage.timings.get('reachability', 0.0):.2f} s "
          f"(build total {with_stage.timings['total']:.1f} s)")
    for name, data in modules.items():
        print(f"{name + ' stage:':<20}code {code_size(data) / 1e6:.3f} MB, module "
              f"{len(data) / 1e6:.3f} MB ({len(gzip.compress(data)) / 1e6:.2f} MB gzip), "
              f"wasmtime compile {compile_seconds(data, args.runs):.2f} s, "
              f"envoy ready {statistics.median(ready[name]):.2f} s "
              f"(runs: {', '.join(f'{s:.2f}' for s in ready[name])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

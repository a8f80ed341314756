"""CPU that a filter adds to each request in a real Envoy (one worker), measured in one run
against peers: no filter, the raw-ABI C filter, and the compiled Python filter.

Envoy's CPU time is read from /proc (every thread's schedstat, in ns) around a bounded loop
of keep-alive requests on loopback (``envoy_load.serial_cpu_us``), so the client's own cost
is not counted.

    python bench/request_cost.py [FILTER.py] [--requests N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from meshwasm.build.pipeline import build_filter
from meshwasm.build.zig import compile_raw_c_filter
from meshwasm.deploy.envoy_config import EnvoyOptions
from meshwasm.deploy.envoy_process import start_envoy
from meshwasm.deploy.upstream import run_upstream
from meshwasm.replay.model import UpstreamResponse

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from envoy_load import serial_cpu_us  # noqa: E402

WARMUP = 200  # requests before the measured ones: connection pools, V8 tiers, caches


def per_request_us(module: Path | None, requests: int, path: str) -> float:
    with run_upstream(UpstreamResponse(body=b"ok")) as upstream:
        options = EnvoyOptions(upstream_port=upstream.port, module=module, plugin_config=b"x")
        with start_envoy(options, wasm_log_level="error") as envoy:
            return serial_cpu_us(envoy, [(path, {})] * requests, [(path, {})] * WARMUP,
                                 expect=None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filter", nargs="?", type=Path,
                        default=PROJECT / "examples" / "hello" / "filter.py")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--path", default="/products")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds; each figure is the median over rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        python_module = build_filter(args.filter, work / "filter.wasm").output
        c_module = compile_raw_c_filter(PROJECT / "runtime_tests" / "other_sdk" / "hello_c.c",
                                        work / "hello_c.wasm")
        samples: dict[str, list[float]] = {"none": [], "c": [], "python": []}
        for _ in range(args.rounds):  # interleaved, so drifts in machine load hit all alike
            for name, module in (("none", None), ("c", c_module), ("python", python_module)):
                samples[name].append(per_request_us(module, args.requests, args.path))
        baseline, c_filter, python = (statistics.median(samples[name])
                                      for name in ("none", "c", "python"))
    print(f"Envoy CPU per request ({args.requests} requests x {args.rounds} rounds, median; "
          "1 worker, keep-alive):")
    def spread(name: str) -> str:
        # Each round is a fresh Envoy; on a small VM instances differ by tens of us, so a
        # difference smaller than this spread is not a measurement.
        return f"[{min(samples[name]):.0f}..{max(samples[name]):.0f}]"

    print(f"  no filter      {baseline:7.1f} us  {spread('none')}")
    print(f"  C filter       {c_filter:7.1f} us  (+{c_filter - baseline:.1f} us)  {spread('c')}")
    print(f"  python filter  {python:7.1f} us  (+{python - baseline:.1f} us)  {spread('python')}")
    added_c = max(c_filter - baseline, 0.1)
    print(f"  added cost, python / C: {(python - baseline) / added_c:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

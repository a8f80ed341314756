"""Harness throughput on one core: requests replayed per second for examples/hello compiled
(wasmtime) and from source (in-process), against the raw-ABI C filter compiled as the peer
measured in the same run; ratios are what to compare across machines.

Each engine replays the hello traffic file's requests (the C filter its own file's) in a
loop in one VM, after a warm-up; the best of ``--rounds`` timed loops counts (CPU time of
this process, so other load on the machine disturbs it less).

    python bench/harness_throughput.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from meshwasm.builder.pipeline import build_filter
from meshwasm_testkit.raw_c_filter import compile_raw_c_filter
from meshwasm.harness import CompiledPlugin
from meshwasm.harness.source import SourcePlugin
from meshwasm.replay.model import Exchange, Verdict
from meshwasm.replay.traffic import load_traffic

PROJECT = Path(__file__).resolve().parent.parent
HELLO = PROJECT / "examples" / "hello"
C_FILTER = PROJECT / "runtime_tests" / "other_sdk"


def rate(run: Callable[[Exchange], Verdict], exchanges: list[Exchange], requests: int,
         rounds: int) -> float:
    """Best requests/s (process CPU time) over ``rounds`` loops of ``requests`` requests."""
    sequence = [exchanges[i % len(exchanges)] for i in range(requests)]
    for exchange in sequence[: max(len(sequence) // 10, len(exchanges))]:
        run(exchange)  # warm-up
    best = 0.0
    for _ in range(rounds):
        started = time.process_time()
        for exchange in sequence:
            run(exchange)
        best = max(best, len(sequence) / (time.process_time() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    hello_traffic = load_traffic(HELLO / "traffic.yaml")
    c_traffic = load_traffic(C_FILTER / "hello_c.traffic.yaml")
    with tempfile.TemporaryDirectory(prefix="meshwasm-bench-") as scratch:
        out = Path(scratch)
        hello_wasm = build_filter(HELLO / "filter.py", out / "hello.wasm").output
        c_wasm = compile_raw_c_filter(C_FILTER / "hello_c.c", out / "hello_c.wasm")
        engines = {
            "C filter, compiled (peer)": (CompiledPlugin(c_wasm, c_traffic.plugin_config),
                                          c_traffic),
            "hello, compiled": (CompiledPlugin(hello_wasm, hello_traffic.plugin_config),
                                hello_traffic),
            "hello, source": (SourcePlugin(HELLO / "filter.py", hello_traffic.plugin_config),
                              hello_traffic),
        }
        rates = {name: rate(plugin.run, traffic.exchanges, args.requests, args.rounds)
                 for name, (plugin, traffic) in engines.items()}
    peer = rates["C filter, compiled (peer)"]
    print(f"harness throughput, one core, best of {args.rounds} x {args.requests} requests")
    for name, value in rates.items():
        print(f"  {name:28} {value:9.0f} requests/s   {value / peer:5.2f} x the C filter")
    print(f"  source / compiled (hello)    "
          f"{rates['hello, source'] / rates['hello, compiled']:5.2f}")


if __name__ == "__main__":
    main()

"""What the harness's callback time limit costs per request: wasmtime epoch interruption (what
the harness uses) and fuel (the alternative), each against no guard, in the same run.

One VM per guard, each on an engine of its own configuration, replay the same requests in
interleaved rounds; the best round of each counts (process CPU time).  Two workloads: the
hello example (host calls dominate) and a filter computing in Python (guest code dominates,
where fuel's per-instruction count shows).

    python bench/harness_limits.py [--rounds R]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import wasmtime
from wasmtime import _bindings

from meshwasm.builder.pipeline import build_filter
from meshwasm.harness import CompiledPlugin
from meshwasm.harness.wasm import engine, epoch, ffi
from meshwasm.replay.model import Exchange
from meshwasm.replay.traffic import load_traffic, parse_traffic

PROJECT = Path(__file__).resolve().parent.parent
HELLO = PROJECT / "examples" / "hello"
COMPUTING_FILTER = '''
from proxy_wasm import Action, HttpContext, register

class Compute(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        total = 0
        for i in range(20000):
            total = (total * 31 + i) % 1000003
        self.request_headers.set("x-total", str(total))
        return Action.CONTINUE

register(Compute)
'''
GUARDS = ("none", "epoch", "fuel")
FUEL = 1 << 62


def _engine_for(guard: str) -> wasmtime.Engine:
    config = wasmtime.Config()
    config.epoch_interruption = guard == "epoch"
    config.consume_fuel = guard == "fuel"
    made = wasmtime.Engine(config)
    if guard == "epoch":
        epoch.start_ticker(made)
    return made


class _FuelTopUp:
    """``FastFunc.__call__`` setting the store's fuel first when the guard is fuel."""

    def __init__(self) -> None:
        self.active = False
        self._call = ffi.FastFunc.__call__

    def install(self) -> None:
        top_up = self

        def call(function: ffi.FastFunc, *params: int) -> int | None:
            if top_up.active:
                _bindings._wasmtime_context_set_fuel(function._ctx, FUEL)
            return top_up._call(function, *params)

        ffi.FastFunc.__call__ = call  # type: ignore[method-assign]


def _plugins(module: Path, plugin_config: bytes, fuel: _FuelTopUp) -> dict[str, CompiledPlugin]:
    """One VM per guard.  The harness's engine is swapped while each VM is made; fuel is
    topped up before every call into the guest, as the epoch deadline is."""
    plugins, shared = {}, engine.shared_engine()
    try:
        for guard in GUARDS:
            engine._engine = _engine_for(guard)
            fuel.active = guard == "fuel"
            plugins[guard] = CompiledPlugin(module, plugin_config)
    finally:
        engine._engine = shared
    return plugins


def best_rates(plugins: dict[str, CompiledPlugin], exchanges: list[Exchange], requests: int,
               rounds: int, fuel: _FuelTopUp) -> dict[str, float]:
    """Best requests/s per guard, rounds interleaved so load changes hit all alike."""
    sequence = [exchanges[i % len(exchanges)] for i in range(requests)]
    best = dict.fromkeys(plugins, 0.0)
    for round_ in range(rounds + 1):
        for guard, plugin in plugins.items():
            fuel.active = guard == "fuel"
            run: Callable[[Exchange], object] = plugin.run
            started = time.process_time()
            for exchange in sequence:
                run(exchange)
            if round_:  # the first round warms up
                best[guard] = max(best[guard], len(sequence) / (time.process_time() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    fuel = _FuelTopUp()
    fuel.install()
    with tempfile.TemporaryDirectory(prefix="meshwasm-bench-") as scratch:
        out = Path(scratch)
        (out / "compute.py").write_text(COMPUTING_FILTER)
        workloads = {
            "hello (host calls)": (build_filter(HELLO / "filter.py", out / "hello.wasm").output,
                                   load_traffic(HELLO / "traffic.yaml"), 2000),
            "computing (guest code)": (
                build_filter(out / "compute.py", out / "compute.wasm").output,
                parse_traffic("requests:\n  - name: one\n    request: {path: /}\n"), 60),
        }
        print(f"{'workload':<24} {'guard':<6} {'req/s':>8} {'cost vs none':>13}")
        for name, (module, traffic, requests) in workloads.items():
            plugins = _plugins(module, traffic.plugin_config, fuel)
            rates = best_rates(plugins, traffic.exchanges, requests, args.rounds, fuel)
            for guard in GUARDS:
                print(f"{name:<24} {guard:<6} {rates[guard]:>8.0f} "
                      f"{rates['none'] / rates[guard]:>12.3f}x")


if __name__ == "__main__":
    main()

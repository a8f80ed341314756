"""Where a filter's guest instructions go, by C function: a sampling profile of one request.

Wasm execution is deterministic, so a request's callbacks run the same instructions every
time.  Each sample starts a fresh VM (a module built with ``--names``), serves warm-up
requests, then gives the measured request a random amount of fuel: where the fuel runs out,
the trap's backtrace names the function running (SELF) and its callers (INCLUSIVE).
With N samples a function's share is exact to about 1/sqrt(N).  Scenarios and the stand-in
host are ``guest_instructions.py``'s.

    python bench/guest_profile.py [--scenario hello] [--samples 1000] [--top 30]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

import wasmtime

from meshwasm.builder.pipeline import build_filter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guest_instructions import SCENARIOS, GuestVM, fuel_engine  # noqa: E402

WARM_UP = 30
MEASURED_ID = 10_000


def _warm_vm(engine: wasmtime.Engine, module: wasmtime.Module, scenario: str) -> GuestVM:
    vm = GuestVM(engine, module, SCENARIOS[scenario].host())
    for context in range(2, 2 + WARM_UP):
        vm.request(context)
    return vm


def _frame_name(frame: wasmtime.Frame) -> str:
    return frame.func_name or f"function {frame.func_index}"


def profile(module_path: Path, scenario: str, samples: int,
            seed: int = 0) -> tuple[int, Counter[str], Counter[str]]:
    """Instructions of the measured request, and sample counts by function (self, inclusive)."""
    engine = fuel_engine()
    module = wasmtime.Module.from_file(engine, str(module_path))
    vm = _warm_vm(engine, module, scenario)
    before = vm.store.get_fuel()
    vm.request(MEASURED_ID)
    total = before - vm.store.get_fuel()
    chooser = random.Random(seed)
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for _ in range(samples):
        vm = _warm_vm(engine, module, scenario)
        vm.store.set_fuel(chooser.randrange(1, total))
        try:
            vm.request(MEASURED_ID)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as trap:
            frames = getattr(trap, "frames", None) or []
            if frames:
                own[_frame_name(frames[0])] += 1
                inclusive.update({_frame_name(frame) for frame in frames})
    return total, own, inclusive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="hello")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        module = build_filter(SCENARIOS[args.scenario].filter, Path(scratch) / "named.wasm",
                              names=True).output
        total, own, inclusive = profile(module, args.scenario, args.samples)
    print(f"{args.scenario}: {total} instructions per request, {args.samples} samples")
    for title, counts in (("self", own), ("inclusive", inclusive)):
        print(f"\n{title}:")
        for name, count in counts.most_common(args.top):
            print(f"  {count * 100 / args.samples:5.1f}%  {count * total // args.samples:7d}  "
                  f"{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

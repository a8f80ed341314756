"""The harness's wall-clock limit per callback of a compiled module: wasmtime's epoch
interruption.  A daemon thread advances the engine's epoch every ``TICK_SECONDS``; before each
call into the guest the store's deadline is set that many ticks ahead, and a guest still
running at the deadline traps with ``TrapCode.INTERRUPT``.

Chosen over fuel because it costs less per request: fuel counts every Wasm instruction,
epochs only check a counter at function entries and loop heads (``bench/harness_limits.py``
measures both against no guard).  Envoy has no such limit; this one keeps a filter that loops
forever from hanging ``replay``.
"""

from __future__ import annotations

import math
import threading
import time

import wasmtime

TICK_SECONDS = 0.05
#: the deadline of a call without a limit (ticks: centuries)
NO_DEADLINE = 1 << 40


def deadline_ticks(limit_s: float | None) -> int:
    """Ticks from now for a limit of ``limit_s`` seconds (one more: the current tick is
    partly over already, so a limit is never cut short)."""
    if limit_s is None:
        return NO_DEADLINE
    return max(1, math.ceil(limit_s / TICK_SECONDS)) + 1


def start_ticker(engine: wasmtime.Engine) -> threading.Thread:
    """Advance ``engine``'s epoch every ``TICK_SECONDS``, for the life of the process."""
    def tick() -> None:
        while True:
            time.sleep(TICK_SECONDS)
            engine.increment_epoch()

    thread = threading.Thread(target=tick, name="meshwasm-epoch-ticker", daemon=True)
    thread.start()
    return thread


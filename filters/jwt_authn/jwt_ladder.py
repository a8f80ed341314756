"""u P + v Q in one pass over both scalars (Shamir's trick), ``WINDOW`` bits of each per
step, for ECDSA (``jwt_crypto``) and Ed25519 (``jwt_eddsa``) verification.

``table[i + (1 << WINDOW) * j]`` holds i P + j Q (None for the neutral point), made once per
key; ``double`` and ``add`` are the curve's (``add(acc, entry)`` takes a table entry).  Only
public values go through it: like BoringSSL's verification, it is not constant-time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

#: bits of each scalar per step (a table of 4^WINDOW points per key: 64)
WINDOW = 3
SIZE = 1 << WINDOW
_MASK = SIZE - 1


def joint_ladder(u: int, v: int, table: Sequence[Any], neutral: Any,
                 double: Callable[[Any], Any], add: Callable[[Any, Any], Any]) -> Any:
    steps = (max(u.bit_length(), v.bit_length()) + WINDOW - 1) // WINDOW
    acc = neutral
    for shift in range(WINDOW * (steps - 1), -1, -WINDOW):
        for _ in range(WINDOW):
            acc = double(acc)
        entry = table[((u >> shift) & _MASK) | (((v >> shift) & _MASK) << WINDOW)]
        if entry is not None:
            acc = add(acc, entry)
    return acc

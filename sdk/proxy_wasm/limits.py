"""Limits that keep a filter from stalling or bloating the proxy (set in ``register()``).

- A **step budget per callback**: the interpreter counts steps (loop iterations and calls:
  every backward jump and every function entry) from the start of each callback; loops
  inside C code count too: the regular-expression engine (8,192 steps per 4,096 steps of a
  match), each item of ``range``, ``iter(callable, sentinel)`` and the endless or
  combinatorial ``itertools``, and big-int arithmetic, so ``sum(range(10**12))`` is stopped
  in a built module as a ``while True`` loop is.  Past
  ``max_callback_steps`` it raises ``LimitExceeded`` in the filter, and the callback fails by
  the filter's policy (``fail_open`` / ``error_status``) with the traceback in the log; the
  VM goes on serving.  The default is generous: it stops a callback that runs away, not a
  slow one (the shipped filters take at most ~1,800 steps in a callback).
- A **memory ceiling per VM**: once the VM's memory passes ``max_memory_mb``, the callback
  running fails by the policy and the VM asks to be replaced: it stops (a trap) once that
  request is over, and the proxy's failure policy decides what follows (``FAIL_RELOAD``
  starts a new VM; per-VM state is lost, shared data survives).

``LimitExceeded`` derives from ``BaseException``, as ``KeyboardInterrupt`` does, so an
``except Exception`` in the filter does not swallow it.  Code that catches it anyway and goes
on gets a short grace (``GRACE_STEPS``) and then the VM stops.
"""

from __future__ import annotations

#: steps a callback may take by default (in Envoy's V8 a bare loop spent them in 0.86 s,
#: measured on a loaded 2-core machine)
DEFAULT_MAX_CALLBACK_STEPS = 20_000_000
#: a VM's memory ceiling by default, in MiB (hello's VM starts with 4.6 MiB)
DEFAULT_MAX_MEMORY_MB = 512
#: steps left to the error policy (traceback, local reply) once a limit was hit
GRACE_STEPS = 200_000
#: a wasm32 VM can never have more memory than this (4 GiB)
MEMORY_LIMIT_MAX_MB = 4096


class LimitExceeded(BaseException):
    """A callback ran past its step budget, or the VM's memory passed its ceiling."""


def check_limits(max_callback_steps: int, max_memory_mb: int) -> None:
    """Refuse limits that are not positive integers in range, naming the argument."""
    for name, value, top in (("max_callback_steps", max_callback_steps, 2**31 - 1),
                             ("max_memory_mb", max_memory_mb, MEMORY_LIMIT_MAX_MB)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= top:
            raise ValueError(f"register(): {name} must be an integer from 1 to {top}, "
                             f"got {value!r}")

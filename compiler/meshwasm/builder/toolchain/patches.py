"""Patches meshwasm applies to CPython's sources before building it (``wasi/*.patch``).

Each patch is a unified diff against the pinned release, applied with ``patch -p1`` in file
name order; every patch's text is part of the toolchain's cache key (``cpython.build_key``),
so changing one rebuilds CPython.  Kept apart from ``cpython.py`` (configure flags, make
targets) so that the two change independently.

- ``c_loop_budget.patch``: C code that can loop for long without the eval loop spends the
  same budget (``_PyMeshwasm_spend``, from step_budget.patch): an item of ``range``,
  ``iter(callable, sentinel)``, ``itertools.count``/``repeat``/``cycle``/``product``/
  ``combinations``/``combinations_with_replacement``/``permutations`` is a step, so
  ``sum(range(10**12))`` or ``any(iter(int, 1))`` stop like a Python loop, whatever consumes
  the items (``sum``, ``max``, ``any``, ``set()``, ``in``…); big-int arithmetic spends 16
  steps where it checks for signals (each row of digits of a multiplication or division)
  and one per multiplication of ``pow()``.  A ``for`` loop over a ``range`` so spends two
  steps per iteration (the item and the backward jump).
- ``step_budget.patch``: counts interpreter steps (loop iterations and calls) in ceval and
  asks the module's glue what to do when a callback's budget is spent (``glue/vm_limits.c``);
  ``Include/internal/pycore_meshwasm_budget.h`` lets other C code spend the same counter.
- ``sre_budget.patch``: the regular-expression engine spends the same budget where it checks
  for signals (every 4096 steps of a match), so a pattern that backtracks without end is
  stopped too.  (Wrapping ``PyErr_CheckSignals`` at link time instead would also charge every
  ``str()`` and ``repr()``, which check for signals on each call.)
- ``str_fast_paths.patch``: ``startswith``/``endswith``/``find``/``count``/``index`` of str and
  bytes with one argument skip ``PyArg_ParseTuple`` (and the format string it needs), and
  ``decode``/``encode`` with ``"utf-8"`` skip normalizing the codec's name: together about
  a thousand Wasm instructions of hello's request (``bench/guest_instructions.py``); and
  ``b"x" in data`` no longer asks a non-int for ``__index__`` first (that formatted and
  cleared a TypeError, ~4,600 instructions each time).  Same answers and errors
  (``runtime_tests/stdlib``: ``str_methods``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from meshwasm.builder.toolchain.errors import ToolchainError

PATCH_DIR = Path(__file__).resolve().parent / "wasi"


def patch_files() -> list[Path]:
    """The patches, in the order they are applied."""
    return sorted(PATCH_DIR.glob("*.patch"))


def patches_key() -> str:
    """Every patch's name and text, for the build key."""
    return "\0".join(f"{path.name}\n{path.read_text()}" for path in patch_files())


def apply_patches(source: Path) -> None:
    """Apply every patch to the extracted CPython tree at ``source``; a patch that does not
    apply cleanly (a different release) raises ``ToolchainError`` with patch's output."""
    for path in patch_files():
        result = subprocess.run(["patch", "-p1", "--forward", "--batch", "-i", str(path)],
                                cwd=source, capture_output=True, text=True)
        if result.returncode != 0:
            raise ToolchainError(f"patching CPython with {path.name} failed:\n"
                                 f"{result.stdout}{result.stderr}")

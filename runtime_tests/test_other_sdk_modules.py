"""Modules other SDKs build, in every engine: what Envoy runs runs, what Envoy refuses is
refused with exit 2 and a message naming the cause, before anything runs.

The modules are WAT compiled by wasmtime: ``other_sdk/duplicate_imports.wat`` imports WASI
functions twice as Go's wasip1 modules do; the refused ones are built in the tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime
from click.testing import CliRunner

from meshwasm.cli import main
from tests.harness.wat import LOG_IMPORT, Wat, write

OTHER_SDK = Path(__file__).resolve().parent / "other_sdk"
DUPLICATES_TRAFFIC = OTHER_SDK / "duplicate_imports.traffic.yaml"
REDIS_IMPORT = ('(import "env" "proxy_redis_init" '
                '(func (param i32 i32 i32 i32 i32) (result i32)))')


@pytest.fixture
def duplicate_imports_wasm(tmp_path: Path) -> Path:
    text = (OTHER_SDK / "duplicate_imports.wat").read_text()
    return write(tmp_path, wasmtime.wat2wasm(text), "duplicate_imports.wasm")


def _missing_import(tmp_path: Path) -> Path:
    return write(tmp_path, Wat().module({}, imports=(LOG_IMPORT, REDIS_IMPORT)), "redis.wasm")


def _configure_refuses(tmp_path: Path) -> Path:
    w = Wat()
    wasm = w.module({"proxy_on_vm_start": "(i32.const 1) <value>",
                     "proxy_on_configure": w.say("config refused", 4) + "(i32.const 0) <value>"})
    return write(tmp_path, wasm, "configure_false.wasm")


def _replay(module: Path, engine: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["replay", "--engine", engine, str(module),
                                       str(DUPLICATES_TRAFFIC)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_the_import_table_of_the_duplicates_module_has_each_import_twice(
        duplicate_imports_wasm: Path) -> None:
    module = wasmtime.Module.from_file(wasmtime.Engine(), str(duplicate_imports_wasm))
    names = [f"{item.module}.{item.name}" for item in module.imports]
    assert names.count("wasi_snapshot_preview1.fd_write") == 2
    assert names.count("wasi_snapshot_preview1.random_get") == 2


def test_duplicate_wasi_imports_are_linked_in_the_harness(duplicate_imports_wasm: Path) -> None:
    code, output = _replay(duplicate_imports_wasm, "harness")
    assert code == 0, output
    assert "1 requests: 1 as expected" in output


def test_a_missing_host_import_is_refused_before_anything_runs(tmp_path: Path) -> None:
    code, output = _replay(_missing_import(tmp_path), "harness")
    assert code == 2, output
    assert "imports env.proxy_redis_init, which Envoy does not provide" in output
    assert "Traceback" not in output


def test_configure_returning_false_is_refused_with_the_filters_log(tmp_path: Path) -> None:
    code, output = _replay(_configure_refuses(tmp_path), "harness")
    assert code == 2, output
    assert "proxy_on_configure returned false" in output
    assert "[error] config refused" in output


@pytest.mark.envoy
def test_duplicate_wasi_imports_run_in_envoy(duplicate_imports_wasm: Path) -> None:
    code, output = _replay(duplicate_imports_wasm, "envoy")
    assert code == 0, output
    assert "1 requests: 1 as expected" in output


@pytest.mark.envoy
def test_envoy_engine_refuses_a_missing_import_without_starting_envoy(tmp_path: Path) -> None:
    code, output = _replay(_missing_import(tmp_path), "envoy")
    assert code == 2, output
    assert "Envoy would refuse the module" in output
    assert "imports env.proxy_redis_init, which Envoy does not provide" in output
    assert "log tail" not in output  # Envoy never started


@pytest.mark.envoy
def test_envoy_refuses_the_missing_import_as_the_check_says(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check copies Envoy: without it, Envoy itself refuses the module for that import."""
    import meshwasm.deploy.envoy.process as envoy_process
    monkeypatch.setattr(envoy_process, "_refuse_what_envoy_refuses", lambda module: None)
    code, output = _replay(_missing_import(tmp_path), "envoy")
    assert code == 2, output
    assert "missing import: env.proxy_redis_init" in output


@pytest.mark.envoy
def test_envoy_engine_names_a_refused_configuration(tmp_path: Path) -> None:
    code, output = _replay(_configure_refuses(tmp_path), "envoy")
    assert code == 2, output
    assert "wasm log meshwasm: config refused" in output
    assert "Failed to configure base Wasm plugin" in output
    assert "log tail" not in output

"""``meshwasm inspect`` on a module meshwasm built and on one another SDK built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshwasm.builder.pipeline import build_filter
from meshwasm.cli import main

from .conftest import PROJECT


@pytest.mark.slow
def test_inspect_shows_build_metadata_imports_and_exports(tmp_path: Path) -> None:
    module = tmp_path / "hello.wasm"
    build_filter(PROJECT / "examples" / "hello" / "filter.py", module)
    result = CliRunner().invoke(main, ["inspect", "--json", str(module)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["abi_version"] == "0.2.1"
    build = info["build"]
    assert build["meshwasm"] == "0.1.0" and build["python"].startswith("3.11")
    assert len(build["filter_sha256"]) == 64 and "proxy_wasm._dispatch" in build["modules"]
    imports = {(i["module"], i["name"]): i for i in info["imports"]}
    assert imports[("env", "proxy_log")]["signature"] == "(i32, i32, i32) -> (i32)"
    assert {m for m, _ in imports} == {"env", "wasi_snapshot_preview1"}
    exports = {e["name"]: e for e in info["exports"]}
    assert exports["proxy_on_request_headers"]["signature"] == "(i32, i32, i32) -> (i32)"
    assert exports["memory"]["kind"] == "memory"

    text = CliRunner().invoke(main, ["inspect", str(module)])
    assert text.exit_code == 0
    for expected in ("proxy-wasm ABI: 0.2.1", "filter_sha256", "imports (", "exports (",
                     "proxy_on_vm_start", "wasi_snapshot_preview1"):
        assert expected in text.output


def test_inspect_works_for_another_sdks_module(c_filter_wasm: Path) -> None:
    result = CliRunner().invoke(main, ["inspect", "--json", str(c_filter_wasm)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["build"] is None
    assert info["abi_version"] == "0.2.1"
    assert any(e["name"] == "proxy_on_request_headers" for e in info["exports"])
    assert all(i["module"] in ("env", "wasi_snapshot_preview1") for i in info["imports"])
    text = CliRunner().invoke(main, ["inspect", str(c_filter_wasm)])
    assert "no meshwasm.build section" in text.output


def test_inspect_names_a_file_that_is_not_wasm(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.wasm"
    bogus.write_bytes(b"\0asm\x01\0\0\0\x01\x05\x01\x60")  # a type section cut short
    result = CliRunner().invoke(main, ["inspect", str(bogus)])
    assert result.exit_code == 1
    assert f"{bogus}: unexpected end of module" in result.output

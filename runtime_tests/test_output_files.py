"""Modules ``build`` writes are files like any other: their mode follows the umask (an Envoy
running as another user can read them), and a folder that cannot be written is a clear error.
(``pull`` writes through the same function: compiler/tests/deploy/test_oci_registry.py.)"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshwasm.cli import main
from meshwasm.files import OutputError, write_atomically

from .conftest import PROJECT

HELLO = PROJECT / "examples" / "hello" / "filter.py"


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_built_module_mode_follows_the_umask(tmp_path: Path) -> None:
    runner = CliRunner()
    with _umask(0o022):
        first = runner.invoke(main, ["build", str(HELLO), "-o", str(tmp_path / "a.wasm")])
    with _umask(0o077):
        second = runner.invoke(main, ["build", str(HELLO), "-o", str(tmp_path / "b.wasm")])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert _mode(tmp_path / "a.wasm") == 0o644
    assert _mode(tmp_path / "b.wasm") == 0o600


def test_build_into_a_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    output = blocker / "hello.wasm"
    result = CliRunner().invoke(main, ["build", str(HELLO), "-o", str(output)])
    assert result.exit_code == 1
    assert f"cannot write {output}:" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_write_into_a_read_only_folder_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match=r"cannot write .*out.wasm: Permission denied"):
            write_atomically(folder / "out.wasm", b"\0asm\x01\0\0\0")
    finally:
        folder.chmod(0o755)
    assert list(folder.iterdir()) == []

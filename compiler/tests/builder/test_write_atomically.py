"""Modules are written atomically and readable by others, as any build output (umask)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from meshwasm.builder.pipeline import write_atomically


def test_the_written_file_follows_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_atomically(tmp_path / "out" / "filter.wasm", b"\0asm")
        os.umask(0o077)
        write_atomically(tmp_path / "private.wasm", b"\0asm")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out" / "filter.wasm").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "private.wasm").stat().st_mode) == 0o600
    assert (tmp_path / "out" / "filter.wasm").read_bytes() == b"\0asm"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["filter.wasm"]  # no temporary

"""``replay --update``: the expectations of a traffic file set to what the module did, shown
as a diff, written only with ``--write`` (comments kept); then the file replays clean."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshwasm.builder.pipeline import build_filter
from meshwasm.cli import main

from .conftest import PROJECT

HELLO = PROJECT / "examples" / "hello"


@pytest.fixture(scope="module")
def hello_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("snapshot") / "hello.wasm"
    return build_filter(HELLO / "filter.py", out).output


def _replay(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["replay", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_update_shows_a_diff_and_writes_only_when_asked(hello_wasm: Path,
                                                        tmp_path: Path) -> None:
    traffic = tmp_path / "traffic.yaml"
    original = (HELLO / "traffic.yaml").read_text()
    stale = original.replace('body: "forbidden by hello\\n"', "body: forbidden")
    assert stale != original
    traffic.write_text(stale)
    code, output = _replay("--update", str(hello_wasm), str(traffic))
    assert code == 1, output
    assert '-      body: forbidden\n+      body: "forbidden by hello\\n"' in output
    assert "not written (add --write" in output
    assert traffic.read_text() == stale

    code, output = _replay("--update", "--write", str(hello_wasm), str(traffic))
    assert code == 0, output
    assert traffic.read_text() == original  # comments, quoting and layout as they were
    code, output = _replay("--update", str(hello_wasm), str(traffic))
    assert code == 0 and "the expectations are what was observed" in output


def test_write_without_update_is_refused(hello_wasm: Path, tmp_path: Path) -> None:
    traffic = tmp_path / "traffic.yaml"
    shutil.copy(HELLO / "traffic.yaml", traffic)
    code, output = _replay("--write", str(hello_wasm), str(traffic))
    assert code == 2 and "go with --update" in output

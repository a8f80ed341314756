"""Mistakes get answers: bad input is a message and exit 2, a crash one line and exit 3,
never a Python traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import meshwasm.commands.replay as replay_command
from meshwasm.cli import EXIT_CRASH, main
from tests.harness.wat import Wat, write

TRAFFIC = "requests:\n  - name: admin page\n    request:\n      path: /admin\n"


@pytest.fixture
def module(tmp_path: Path) -> Path:
    return write(tmp_path, Wat().module({}))


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_markup_like_text_in_a_traffic_file_is_an_error_not_a_crash(
        module: Path, tmp_path: Path) -> None:
    traffic = tmp_path / "t.yaml"
    traffic.write_text(TRAFFIC.replace("/admin", "admin[/*]"))
    code, output = _run("replay", str(module), str(traffic))
    assert code == 2
    assert f"{traffic}:4: request #1 ('admin page'): request.path: 'admin[/*]': a path " \
           "starts with '/'" in output
    assert "Traceback" not in output


def test_a_filter_source_given_as_a_module_says_build_it_first(tmp_path: Path) -> None:
    source, traffic = tmp_path / "filter.py", tmp_path / "t.yaml"
    source.write_text("")
    traffic.write_text(TRAFFIC)
    code, output = _run("replay", str(source), str(traffic))
    assert code == 2
    assert "is a filter's source, not a module: build it first" in output
    assert "or use --engine source" in output
    code, output = _run("run", str(source))
    assert code == 2 and "build it first" in output


def test_a_crash_is_one_line_and_its_own_exit_code(module: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    traffic = tmp_path / "t.yaml"
    traffic.write_text(TRAFFIC)

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("no such thing")

    monkeypatch.setattr(replay_command, "evaluate", broken)
    result = CliRunner().invoke(main, ["replay", str(module), str(traffic)])
    assert result.exit_code == EXIT_CRASH == 3
    assert result.stderr.strip().splitlines() == [
        "meshwasm replay: internal error: KeyError: 'no such thing' (a bug in meshwasm; "
        "MESHWASM_DEBUG=1 shows the traceback)"]
    monkeypatch.setenv("MESHWASM_DEBUG", "1")
    result = CliRunner().invoke(main, ["replay", str(module), str(traffic)])
    assert isinstance(result.exception, KeyError)


def test_version_has_a_short_option() -> None:
    code, output = _run("-V")
    assert code == 0 and output.startswith("meshwasm, version ")

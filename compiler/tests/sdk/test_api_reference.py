"""``make docs`` (the README's command) builds the API reference of the SDK and the pytest
plugin from their docstrings, without warnings."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]


def _text(page: Path) -> str:
    """The visible text of a generated page, whitespace collapsed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.read_text())))


def test_make_docs_builds_the_api_reference(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    out = tmp_path / "api"
    # -o: the venv this test runs in is the installed one (do not reinstall it)
    result = subprocess.run(
        ["make", "-s", "-o", f"{bin_dir.parent}/.installed", "docs", f"API_OUT={out}",
         f"BIN={bin_dir}", f"VENV={bin_dir.parent}"],
        cwd=PROJECT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warn" not in result.stderr, result.stderr
    assert (out / "index.html").is_file()
    package = _text(out / "proxy_wasm.html")
    assert "def register" in package and "fail_open" in package
    headers = _text(out / "proxy_wasm" / "headers.html")
    assert "def get ( self , name : str" in headers
    assert "The value of name (the first, if repeated), or default" in headers
    context = _text(out / "proxy_wasm" / "context.html")
    assert "Generic over its plugin's class" in context and "root : RootContext" in context
    assert "def skip_callbacks" in context
    plugin = _text(out / "meshwasm" / "pytest_plugin.html")
    for fixture in ("meshwasm_build", "meshwasm_plugin", "FilterDriver"):
        assert fixture in plugin
    assert "built once per session per filter" in plugin  # the fixtures' docstrings
    assert "a mapping or list becomes JSON" in plugin

"""The analyze stage reports problems in the filter with file and line, before linking."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.builder.analyze import analyze
from meshwasm.builder.errors import FilterSourceError
from meshwasm.builder.pipeline import SDK_DIR

HEADER = "from proxy_wasm import HttpContext, register\n"
FOOTER = "class F(HttpContext):\n    pass\nregister(F)\n"


@pytest.fixture
def stdlib(tmp_path: Path) -> Path:
    """A tiny stand-in stdlib: analyze only needs the files to exist."""
    root = tmp_path / "stdlib"
    for name in ("encodings/__init__.py", "encodings/utf_8.py", "encodings/latin_1.py",
                 "encodings/ascii.py", "encodings/aliases.py", "enum.py", "json/__init__.py",
                 "json/decoder.py", "socket.py", "__future__.py", "functools.py",
                 "types.py", "operator.py", "collections/__init__.py", "keyword.py",
                 "reprlib.py"):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("from . import decoder\n" if name == "json/__init__.py" else "")
    return root


# Stand-in for the toolchain's list of extension modules compiled into CPython.
BUILTINS = frozenset({"sys", "builtins", "_abc", "_codecs", "_collections", "_functools",
                      "_io", "_json", "_operator", "_sre", "_struct", "_thread", "_weakref",
                      "itertools", "math", "time"})


def write_filter(tmp_path: Path, text: str, name: str = "myfilter.py") -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def error_for(path: Path, stdlib: Path) -> FilterSourceError:
    with pytest.raises(FilterSourceError) as caught:
        analyze(path, SDK_DIR, stdlib, BUILTINS)
    return caught.value


def test_syntax_error_names_file_line_and_column(tmp_path: Path, stdlib: Path) -> None:
    path = write_filter(tmp_path, HEADER + "x = (\n")
    error = error_for(path, stdlib)
    assert (error.path, error.line) == (path, 2)
    assert "was never closed" in str(error)
    assert str(error).startswith(f"{path}:2:")


def test_unbundleable_import_names_its_line(tmp_path: Path, stdlib: Path) -> None:
    path = write_filter(tmp_path, HEADER + "\nimport requests\n" + FOOTER)
    error = error_for(path, stdlib)
    assert error.line == 3
    assert "'requests'" in error.message


def test_optional_import_may_be_missing(tmp_path: Path, stdlib: Path) -> None:
    path = write_filter(tmp_path, HEADER + "try:\n    import ujson\nexcept ImportError:\n"
                        "    import json\n" + FOOTER)
    closure = analyze(path, SDK_DIR, stdlib, BUILTINS)
    assert {"json", "json.decoder", "myfilter"} <= set(closure.sources)
    assert "ujson" not in closure.sources


def test_network_modules_are_refused_with_a_reason(tmp_path: Path, stdlib: Path) -> None:
    path = write_filter(tmp_path, HEADER + "import socket\n" + FOOTER)
    error = error_for(path, stdlib)
    assert error.line == 2
    assert "http_call" in error.message


def test_a_filter_must_register(tmp_path: Path, stdlib: Path) -> None:
    path = write_filter(tmp_path, HEADER + "class F(HttpContext):\n    pass\n")
    assert "register" in error_for(path, stdlib).message


def test_local_modules_beside_the_filter_are_bundled(tmp_path: Path, stdlib: Path) -> None:
    write_filter(tmp_path, "VALUE = 1\n", name="helpers.py")
    path = write_filter(tmp_path, HEADER + "import helpers\n" + FOOTER)
    closure = analyze(path, SDK_DIR, stdlib, BUILTINS)
    assert closure.sources["helpers"].origin == "local"
    assert closure.sources["proxy_wasm._dispatch"].origin == "sdk"


def test_file_name_must_not_shadow_the_stdlib(tmp_path: Path, stdlib: Path) -> None:
    path = write_filter(tmp_path, HEADER + FOOTER, name="enum.py")
    assert "shadows" in error_for(path, stdlib).message


def _stdlib_module(stdlib: Path, name: str, text: str) -> None:
    (stdlib / f"{name}.py").write_text(text)


def test_a_stdlib_fallback_import_is_followed_only_when_its_try_cannot_import(
        tmp_path: Path, stdlib: Path) -> None:
    # random's pattern: the C module resolves, so the except branch never runs
    _stdlib_module(stdlib, "lean", "try:\n    from _struct import pack\n"
                                   "except ImportError:\n    import heavy_fallback\n")
    # a C module this CPython does not have: the fallback is what runs
    _stdlib_module(stdlib, "needs_fallback", "try:\n    import _not_built\n"
                                             "except ImportError:\n    import pure_fallback\n")
    # hashlib's pattern: an error path that imports, with no import in the try
    _stdlib_module(stdlib, "error_path", "try:\n    x = 1\nexcept ValueError:\n"
                                         "    import logging_like\n")
    for name in ("heavy_fallback", "pure_fallback", "logging_like"):
        _stdlib_module(stdlib, name, "")
    path = write_filter(tmp_path, HEADER + "import lean, needs_fallback, error_path\n" + FOOTER)
    closure = analyze(path, SDK_DIR, stdlib, BUILTINS)
    assert "pure_fallback" in closure.sources
    assert "heavy_fallback" not in closure.sources
    assert "logging_like" not in closure.sources


def test_unicodedata_is_linked_for_re_only_when_the_filter_names_a_character(
        tmp_path: Path, stdlib: Path) -> None:
    # re's parser imports unicodedata inside a function, for \N{...} escapes only
    _stdlib_module(stdlib, "re", "def _escape():\n    import unicodedata\n")
    builtins = BUILTINS | {"unicodedata"}
    plain = write_filter(tmp_path, HEADER + "import re\nWORD = re.compile(r'\\w+')\n" + FOOTER)
    assert "unicodedata" not in analyze(plain, SDK_DIR, stdlib, builtins).builtins
    named = write_filter(tmp_path, HEADER + "import re\nDASH = re.compile(r'\\N{EM DASH}')\n"
                         + FOOTER, name="named.py")
    assert "unicodedata" in analyze(named, SDK_DIR, stdlib, builtins).builtins

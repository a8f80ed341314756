"""Outside a compiled module, resources are read beside the module that asks, even while it
is being imported (before the filter registered)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def test_read_at_import_time_finds_the_file_beside_the_caller(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text('{"type": "object"}')
    (tmp_path / "rules_helper.py").write_text(
        "from proxy_wasm import resources\nSCHEMA = resources.read('schema.json')\n")
    spec = importlib.util.spec_from_file_location("rules_helper", tmp_path / "rules_helper.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.SCHEMA == b'{"type": "object"}'


def test_a_missing_file_is_a_file_not_found_error(tmp_path: Path) -> None:
    from proxy_wasm import resources

    (tmp_path / "asks.py").write_text(
        "from proxy_wasm import resources\n\ndef ask():\n    return resources.read('nope.json')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import asks  # type: ignore[import-not-found]

        with pytest.raises(FileNotFoundError):
            asks.ask()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("asks", None)
    assert resources.read  # the SDK module itself stays importable

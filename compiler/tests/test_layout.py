"""The product package stands on its own: no module of ``meshwasm`` imports ``meshwasm_testkit``
(testkit/, installed only by ``make setup``) or the test suites, every module imports in a
process where the test kit cannot be imported, and every file the package reads at run time
(the C glue, the toolchain's patches and config.site, schemas) is declared as package data,
so a wheel carries it."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import meshwasm

PRODUCT = Path(meshwasm.__file__).resolve().parent
PYPROJECT = PRODUCT.parents[1] / "pyproject.toml"
TEST_ONLY = ("meshwasm_testkit", "runtime_tests", "tests", "bench")


def _imported_modules(source: Path) -> set[str]:
    """Every module ``source`` imports, at top level or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_product_module_imports_test_only_code() -> None:
    sources = sorted(PRODUCT.rglob("*.py"))
    assert len(sources) > 50
    found = {f"{source.relative_to(PRODUCT)}: {name}"
             for source in sources for name in _imported_modules(source)
             if name.split(".")[0] in TEST_ONLY}
    assert found == set()


def test_every_product_module_imports_without_the_testkit(tmp_path: Path) -> None:
    program = textwrap.dedent("""
        import importlib, pkgutil, sys
        sys.modules["meshwasm_testkit"] = None  # importing it now raises ImportError
        import meshwasm
        names = [module.name for module in pkgutil.walk_packages(meshwasm.__path__, "meshwasm.")
                 if module.name != "meshwasm.__main__"]  # that one runs the CLI
        for name in names:
            importlib.import_module(name)
        print(len(names))
    """)
    result = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 50


def test_every_data_file_of_the_package_is_declared_package_data() -> None:
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"][
        "meshwasm"]
    declared = {path for pattern in patterns for path in PRODUCT.glob(pattern)}
    data = {path for path in PRODUCT.rglob("*") if path.is_file()
            and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts}
    assert any(path.suffix == ".patch" for path in data)  # the toolchain's, among others
    assert sorted(str(path.relative_to(PRODUCT)) for path in data - declared) == []

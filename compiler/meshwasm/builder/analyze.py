"""Analyze stage: check the filter before anything is compiled or linked.

Syntax errors, imports that cannot be bundled and a missing ``register(...)`` call are all
reported here with the file and line, in well under a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

from meshwasm.builder.errors import FilterSourceError
from meshwasm.builder.modules import Closure, collect_closure, parse_source


def _calls_register(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            if (isinstance(function, ast.Name) and function.id == "register") or (
                    isinstance(function, ast.Attribute) and function.attr == "register"):
                return True
    return False


def analyze(filter_path: Path, sdk_dir: Path, stdlib_dir: Path,
            builtins: frozenset[str], installed_dirs: tuple[Path, ...] = ()) -> Closure:
    """Validate the filter and return the modules it needs (``builtins``: the extension
    modules compiled into the wasm32-wasi CPython; ``installed_dirs``: folders of installed
    packages whose pure-Python modules may be bundled)."""
    tree = parse_source(filter_path)
    closure = collect_closure(filter_path, sdk_dir, stdlib_dir, builtins, installed_dirs)
    if not _calls_register(tree):
        raise FilterSourceError(
            filter_path, None,
            "no filter is registered: call proxy_wasm.register(YourHttpContext) at module level")
    return closure

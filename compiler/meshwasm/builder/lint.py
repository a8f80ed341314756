"""Warnings about filter code that builds but will not do what its author meant.

- a method named ``on_*`` on a context class that is no callback of it is never called
  (``on_request_header``: "did you mean ``on_request_headers``?");
- a stream callback (``on_request_headers`` ...) must return an ``Action``: one that returns
  ``True``/``None``/a number, or falls off its end, continues or pauses by accident.

Read from the source (``ast``): the filter's own modules only, classes whose bases are named
``HttpContext``/``RootContext`` or are such classes of the same modules.  Only what can be
told without running the code is reported: ``return self.decide()`` is not questioned.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from proxy_wasm.context import HttpContext, RootContext

from meshwasm.builder.modules import Closure

#: callbacks by context kind, as the SDK defines them
CALLBACKS = {cls.__name__: tuple(sorted(name for name in dir(cls) if name.startswith("on_")))
             for cls in (HttpContext, RootContext)}
RETURNS_ACTION = frozenset(name for name in CALLBACKS["HttpContext"]
                           if name.startswith(("on_request_", "on_response_")))


@dataclass(frozen=True)
class LintWarning:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def _base_names(node: ast.ClassDef) -> list[str]:
    names = []
    for base in node.bases:
        if isinstance(base, ast.Subscript):
            base = base.value
        if isinstance(base, ast.Name):
            names.append(base.id)
        elif isinstance(base, ast.Attribute):
            names.append(base.attr)
    return names


def _context_classes(trees: Iterable[ast.Module]) -> dict[str, tuple[str, ast.ClassDef]]:
    """Class name -> (context kind, definition), following bases within the filter's code."""
    classes = {node.name: node for tree in trees for node in ast.walk(tree)
               if isinstance(node, ast.ClassDef)}
    kinds: dict[str, tuple[str, ast.ClassDef]] = {}
    changed = True
    while changed:  # a subclass of a subclass: repeat until nothing new is found
        changed = False
        for name, node in classes.items():
            if name in kinds:
                continue
            for base in _base_names(node):
                kind = base if base in CALLBACKS else kinds.get(base, (None,))[0]
                if kind is not None:
                    kinds[name] = (kind, node)
                    changed = True
                    break
    return kinds


def _not_an_action(value: ast.expr | None) -> str | None:
    """How a returned expression is plainly not an Action (None: it may be one)."""
    if value is None:
        return "None"
    if isinstance(value, ast.Constant):
        return repr(value.value)
    if isinstance(value, (ast.List, ast.Tuple, ast.Dict, ast.Set, ast.JoinedStr, ast.Compare,
                          ast.BoolOp)) or (isinstance(value, ast.UnaryOp)
                                          and isinstance(value.op, ast.Not)):
        return ast.unparse(value)
    return None


def _own_returns(function: ast.FunctionDef) -> list[ast.Return]:
    """The function's return statements, not those of functions nested in it."""
    found: list[ast.Return] = []
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Return):
            found.append(node)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                   ast.Lambda)):
            pending.extend(ast.iter_child_nodes(node))
    return found


def _ends_without_return(function: ast.FunctionDef) -> bool:
    last = function.body[-1]
    return not isinstance(last, (ast.Return, ast.Raise))


def _check_method(path: Path, class_name: str, kind: str,
                  method: ast.FunctionDef) -> list[LintWarning]:
    name = method.name
    where = f"{class_name}.{name}"
    if name not in CALLBACKS[kind]:
        close = difflib.get_close_matches(name, CALLBACKS[kind], n=1, cutoff=0.8)
        hint = f": did you mean {close[0]}?" if close else \
            f" (its callbacks: {', '.join(CALLBACKS[kind])})"
        return [LintWarning(path, method.lineno,
                            f"{where} is not a callback of {kind}, so it is never called{hint}")]
    if name not in RETURNS_ACTION:
        return []
    warnings = []
    for statement in _own_returns(method):
        shown = _not_an_action(statement.value)
        if shown is not None:
            warnings.append(LintWarning(
                path, statement.lineno, f"{where} returns {shown}, not an Action "
                "(return Action.CONTINUE or Action.PAUSE)"))
    if _ends_without_return(method):
        warnings.append(LintWarning(
            path, method.lineno, f"{where} can end without returning an Action (None is read "
            "as Action.CONTINUE; return it explicitly)"))
    return warnings


def lint_sources(paths: Iterable[Path]) -> list[LintWarning]:
    """Warnings for the context classes defined in ``paths`` (Python files)."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8"), str(path)) for path in paths}
    kinds = _context_classes(trees.values())
    warnings = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef) or node.name not in kinds \
                    or kinds[node.name][1] is not node:
                continue
            kind = kinds[node.name][0]
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name.startswith("on_"):
                    warnings += _check_method(path, node.name, kind, item)
    return sorted(warnings, key=lambda warning: (str(warning.path), warning.line))


def lint_closure(closure: Closure) -> list[LintWarning]:
    """``lint_sources`` of the filter's own modules in a build's import closure."""
    return lint_sources(module.path for module in closure.sources.values()
                        if module.origin in ("filter", "local"))

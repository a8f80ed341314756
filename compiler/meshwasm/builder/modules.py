"""Which Python modules a filter needs: the import closure, resolved for wasm32-wasi.

A name resolves, in this order, to a module beside the filter, the SDK (``proxy_wasm``), a
module compiled into CPython for wasm32-wasi (a builtin: the toolchain lists them), the
stdlib sources that came with it, or a pure-Python package installed in the build's Python
environment (``site_packages.py``; C extension modules there are refused by name).  Imports inside ``try: ... except ImportError`` are optional: missing is fine.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from meshwasm.builder.errors import FilterSourceError
from meshwasm.builder.implied import STDLIB_IMPLIED, implied_imports
from meshwasm.builder.site_packages import ExtensionModule, find_installed

# Pure-Python modules CPython 3.11 already freezes into libpython (Python/frozen.c); they
# need no copy of ours, and import only each other and builtins.
CPYTHON_FROZEN: frozenset[str] = frozenset({
    "importlib._bootstrap", "importlib._bootstrap_external", "zipimport", "abc", "codecs",
    "io", "_collections_abc", "_sitebuiltins", "genericpath", "ntpath", "posixpath", "os",
    "site", "stat",
})

# C modules the stdlib imports only inside functions, for a feature the filter's own code has
# to ask for; their tables are large, so they are linked only when that code imports them or
# uses the feature (see implied.py).
LINKED_ON_DEMAND: frozenset[str] = frozenset({
    "unicodedata",  # re's parser imports it for `\N{NAME}` escapes; ~1 MB of tables
})

# Modules that install themselves under another name (os sets sys.modules["os.path"]).
ALIASES: dict[str, str] = {"os.path": "posixpath"}

# Imported by CPython itself while starting, and by the runtime's dispatcher.
RUNTIME_ROOTS: tuple[str, ...] = ("encodings", "encodings.utf_8", "encodings.latin_1",
                                  "encodings.ascii", "proxy_wasm._dispatch")

# Modules that import but cannot work inside a proxy: no sockets, processes or threads.
UNSUPPORTED_IN_PROXY: dict[str, str] = {
    name: "a proxy-wasm VM has no sockets; use the SDK's http_call"
    for name in ("socket", "ssl", "select", "selectors", "asyncio", "http.client",
                 "urllib.request", "smtplib", "ftplib")
} | {
    name: "a proxy-wasm VM cannot start processes or threads"
    for name in ("subprocess", "multiprocessing", "threading", "concurrent.futures")
} | {
    name: "meshwasm's CPython for wasm32-wasi is built without zlib, lzma and bz2"
    for name in ("zlib", "gzip", "zipfile", "lzma", "bz2", "tarfile", "shutil")
} | {
    name: ("a built module cannot compile Python source while it serves requests (the "
           "compiler is removed after the build-time snapshot)")
    for name in ("ast", "code", "codeop", "compileall", "py_compile")
} | {
    "zoneinfo": "a proxy-wasm VM has no files to read time-zone data from; use "
                "datetime.timezone with a fixed offset",
    "tempfile": "a proxy-wasm VM has no filesystem",
    "ctypes": "there is no FFI in a proxy-wasm VM",
    "sqlite3": "sqlite3 is not built for wasm",
}


@dataclass(frozen=True)
class SourceModule:
    name: str
    path: Path
    is_package: bool
    origin: str  # "filter", "local", "sdk", "stdlib", "installed" or "generated"
    display_name: str  # the file name tracebacks show


@dataclass(frozen=True)
class ImportSite:
    name: str
    line: int
    optional: bool
    lazy: bool = False  # inside a function: runs when called, maybe never
    #: inside an ``except`` handler: the imports of the ``try`` body it stands in for (empty
    #: when that body imports nothing, e.g. hashlib's ``except ValueError: import logging``)
    fallback_for: tuple[str, ...] | None = None


@dataclass
class Closure:
    filter_module: str
    sources: dict[str, SourceModule] = field(default_factory=dict)
    builtins: set[str] = field(default_factory=set)
    #: modules of CPYTHON_FROZEN that some import names: the module imports them while it is
    #: built, because CPython's own frozen copies are dropped after the snapshot (deepfreeze.py)
    cpython_frozen: set[str] = field(default_factory=set)


def _is_import_guard(handler: ast.ExceptHandler) -> bool:
    names: list[ast.expr] = []
    if handler.type is None:
        return True
    names = list(handler.type.elts) if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError",
                                                    "Exception", "BaseException")
               for n in names)


class _ImportCollector(ast.NodeVisitor):
    """Collects import sites; those inside functions are marked ``lazy``."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.sites: list[ImportSite] = []
        self._guard_depth = 0
        self._function_depth = 0
        self._fallback_for: tuple[str, ...] | None = None
        self._name_sites: set[int] = set()  # `from m import name` sites (maybe not modules)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._function_depth += 1
        self.generic_visit(node)
        self._function_depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            for statement in node.orelse:  # the body is for type checkers only
                self.visit(statement)
            return
        # Platform switches (`if name == 'nt': import nt`): what is missing here is optional.
        self._guard_depth += 1
        self.generic_visit(node)
        self._guard_depth -= 1

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(_is_import_guard(h) for h in node.handlers)
        self._guard_depth += guarded
        before = len(self.sites)
        for statement in node.body:
            self.visit(statement)
        self._guard_depth -= guarded
        tried = tuple(site.name for index, site in enumerate(self.sites[before:], before)
                      if index not in self._name_sites)
        outer = self._fallback_for
        self._fallback_for = tried
        for handler in node.handlers:
            self.visit(handler)
        self._fallback_for = outer
        for part in (*node.orelse, *node.finalbody):
            self.visit(part)

    def _add(self, name: str, line: int, optional: bool = False) -> None:
        self.sites.append(ImportSite(name, line, optional or self._guard_depth > 0,
                                     self._function_depth > 0, self._fallback_for))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            parts = alias.name.split(".")
            for depth in range(1, len(parts) + 1):
                self._add(".".join(parts[:depth]), node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base_parts = self.package.split(".") if self.package else []
            if node.level > 1:
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join(base_parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        if base:
            parts = base.split(".")
            for depth in range(1, len(parts) + 1):
                self._add(".".join(parts[:depth]), node.lineno)
        for alias in node.names:
            if alias.name != "*":
                # `from package import name`: name may be a submodule; optional either way.
                if node.module:  # (`from . import name` names a module)
                    self._name_sites.add(len(self.sites))
                self._add(f"{base}.{alias.name}" if base else alias.name, node.lineno, True)


def parse_source(path: Path) -> ast.Module:
    """Parse a Python file, turning syntax errors into ``file:line:col`` errors."""
    try:
        source = path.read_bytes()
    except OSError as error:
        raise FilterSourceError(path, None, f"cannot read: {error.strerror}") from None
    try:
        return ast.parse(source, filename=str(path))
    except SyntaxError as error:
        raise FilterSourceError(path, error.lineno, f"syntax error: {error.msg}",
                                error.offset) from None


def import_sites(tree: ast.Module, package: str) -> list[ImportSite]:
    collector = _ImportCollector(package)
    collector.visit(tree)
    return collector.sites


class Resolver:
    """Maps a dotted module name to where its code comes from."""

    def __init__(self, filter_dir: Path, sdk_dir: Path, stdlib_dir: Path,
                 builtins: frozenset[str], installed_dirs: tuple[Path, ...] = ()) -> None:
        self.filter_dir = filter_dir
        self.sdk_dir = sdk_dir
        self.stdlib_dir = stdlib_dir
        self.builtins = builtins
        self.installed_dirs = installed_dirs

    @staticmethod
    def _find(root: Path, name: str) -> tuple[Path, bool] | None:
        base = root.joinpath(*name.split("."))
        if (base / "__init__.py").is_file():
            return base / "__init__.py", True
        if base.with_suffix(".py").is_file():
            return base.with_suffix(".py"), False
        return None

    def resolve(self, name: str) -> SourceModule | ExtensionModule | str | None:
        """A ``SourceModule``; ``"builtin"`` (compiled into CPython) or ``"frozen"`` (frozen
        into libpython already); an installed ``ExtensionModule`` (cannot be bundled); or
        None when nothing provides it."""
        name = ALIASES.get(name, name)
        top = name.split(".")[0]
        if top == "proxy_wasm":
            found = self._find(self.sdk_dir.parent, name)
            if found:
                display = found[0].relative_to(self.sdk_dir.parent).as_posix()
                return SourceModule(name, found[0], found[1], "sdk", display)
            return None
        found = self._find(self.filter_dir, name)
        if found:
            display = found[0].relative_to(self.filter_dir).as_posix()
            return SourceModule(name, found[0], found[1], "local", display)
        if name in CPYTHON_FROZEN:
            return "frozen"
        if name in self.builtins or name == "__main__":
            return "builtin"
        found = self._find(self.stdlib_dir, name)
        if found:
            display = "<stdlib>/" + found[0].relative_to(self.stdlib_dir).as_posix()
            return SourceModule(name, found[0], found[1], "stdlib", display)
        installed = find_installed(self.installed_dirs, name)
        if isinstance(installed, tuple):
            folder, path, is_package = installed
            display = "<installed>/" + path.relative_to(folder).as_posix()
            return SourceModule(name, path, is_package, "installed", display)
        return installed


def collect_closure(filter_path: Path, sdk_dir: Path, stdlib_dir: Path,
                    builtins: frozenset[str], installed_dirs: tuple[Path, ...] = ()) -> Closure:
    """Every module the filter (and the runtime) imports, or a ``FilterSourceError``.

    ``builtins`` are the extension modules compiled into the wasm32-wasi CPython;
    ``installed_dirs`` the folders of installed packages that may be bundled."""
    filter_path = filter_path.resolve()
    resolver = Resolver(filter_path.parent, sdk_dir, stdlib_dir, builtins, installed_dirs)
    module_name = filter_path.stem
    if not module_name.isidentifier():
        raise FilterSourceError(filter_path, None,
                                f"the file name must be a Python module name, not {module_name!r}")
    if resolver._find(stdlib_dir, module_name) or module_name in builtins:
        raise FilterSourceError(filter_path, None,
                                f"the file name shadows the standard module {module_name!r}; "
                                "rename the filter")
    closure = Closure(module_name)
    root = SourceModule(module_name, filter_path, False, "filter", filter_path.name)
    # Each entry: (module, where the user's code asked for it) for error messages.
    pending: list[tuple[SourceModule, tuple[Path, int] | None]] = [(root, None)]
    for name in RUNTIME_ROOTS:
        found = resolver.resolve(name)
        if not isinstance(found, SourceModule):
            raise FilterSourceError(stdlib_dir, None, f"runtime module {name!r} is missing")
        pending.append((found, None))
    resolvable: dict[str, bool] = {}
    while pending:
        module, asked_at = pending.pop()
        if module.name in closure.sources:
            continue
        closure.sources[module.name] = module
        package = module.name if module.is_package else module.name.rpartition(".")[0]
        user_code = module.origin in ("filter", "local")
        installed = module.origin == "installed"
        tree = parse_source(module.path)
        # Codecs and _strptime are imported by name when the filter first uses them.
        implied = implied_imports(tree) if user_code or installed else \
            STDLIB_IMPLIED.get(module.name, [])
        sites = import_sites(tree, package) + [
            ImportSite(name, line, optional=True) for name, line in implied
            if name not in closure.sources and _imports_resolve(resolver, name, resolvable)]
        for site in sites:
            found = resolver.resolve(site.name)
            if found == "frozen":
                closure.cpython_frozen.add(ALIASES.get(site.name, site.name))
                continue
            if (module.origin == "stdlib" and not site.lazy and site.fallback_for is not None
                    and all(resolver.resolve(name) is not None for name in site.fallback_for)):
                # A stdlib module's top-level `except` branch stands in for a `try` whose
                # imports all resolve here, and so are bundled (random's `from hashlib
                # import sha512` behind _sha512, hashlib's `import logging` to report a
                # missing hash): it does not run.  If it ran after all, that is while the
                # module is built, and the snapshot fails naming the missing module.
                continue
            if site.lazy and module.origin == "stdlib":
                # The stdlib imports rarely used helpers lazily; following those would bundle
                # half of it.  Its lazy imports of C modules are linked, though (hashlib
                # imports _sha256 inside a function, at import time), but for a few large
                # ones only the filter's own code can ask for (LINKED_ON_DEMAND).
                if found == "builtin" and site.name not in LINKED_ON_DEMAND:
                    closure.builtins.add(site.name)
                continue
            # An installed package's imports inside functions run when called, maybe never:
            # what they need may be missing (an ImportError then, as for any lazy import).
            optional = site.optional or (installed and site.lazy)
            origin = (module.path, site.line) if user_code else asked_at
            if (user_code or installed) and site.name in UNSUPPORTED_IN_PROXY \
                    and not optional:
                # named at the filter's own import, with the installed module that needs it
                path, line = origin or (module.path, site.line)
                where = "" if user_code else \
                    f" (the installed {module.name!r} imports it, {module.path}:{site.line})"
                raise FilterSourceError(path, line, f"cannot use {site.name!r} in a filter"
                                                    f"{where}: {UNSUPPORTED_IN_PROXY[site.name]}")
            if found == "builtin":
                closure.builtins.add(site.name)
            elif isinstance(found, SourceModule):
                pending.append((found, origin))
            elif optional:
                continue
            elif isinstance(found, ExtensionModule):
                path, line = origin or (module.path, site.line)
                raise FilterSourceError(path, line, f"cannot bundle {site.name!r}: "
                                                    f"{found.reason()}")
            else:
                _missing(site.name, module, origin)
    return closure


def _imports_resolve(resolver: Resolver, name: str, known: dict[str, bool]) -> bool:
    """Whether ``name`` and everything it imports at top level can be bundled (an
    on-demand codec such as ``bz2_codec`` needs a C module the wasm build does not have).
    ``known`` remembers answers (a module under examination counts as resolvable)."""
    if name in known:
        return known[name]
    found = resolver.resolve(name)
    if not isinstance(found, SourceModule):
        known[name] = isinstance(found, str)  # builtin or frozen
        return known[name]
    known[name] = True
    package = name if found.is_package else name.rpartition(".")[0]
    known[name] = all(site.optional or site.lazy or _imports_resolve(resolver, site.name, known)
                      for site in import_sites(parse_source(found.path), package))
    return known[name]


def _missing(name: str, importer: SourceModule, origin: tuple[Path, int] | None) -> None:
    if importer.origin in ("filter", "local"):
        raise FilterSourceError(importer.path, origin[1] if origin else None,
                                f"cannot bundle import {name!r}: it is neither beside the "
                                "filter, nor in CPython's standard library for wasm32-wasi, "
                                "nor installed (pure Python) in this Python environment")
    path, line = origin if origin else (importer.path, None)
    raise FilterSourceError(path, line,
                            f"cannot bundle {importer.name!r}: it needs {name!r}, which "
                            "CPython for wasm32-wasi does not provide")

"""Packages installed in the build's own Python environment, bundled into a filter when they
are pure Python.

A name nothing else provides (not beside the filter, not the SDK, not CPython's standard
library for wasm32-wasi) is looked up in the folders of ``sys.path`` that hold installed
packages: site-packages, the user's site folder, and the folders that ``.pth`` files add
(editable installs).  A ``.py`` module or a package with ``__init__.py`` is bundled like
the filter's own code.  A C extension module (``.so``) was compiled for the build machine,
not for wasm32-wasi: its import is refused, naming the distribution it belongs to, unless
the import is optional (``try: ... except ImportError``: packages with pure-Python fallbacks
work).
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

#: how CPython names extension modules on this machine (``.cpython-311-x86_64-linux-gnu.so``)
_EXTENSION_SUFFIXES = tuple(dict.fromkeys([*importlib.machinery.EXTENSION_SUFFIXES,
                                           ".so", ".pyd"]))


@dataclass(frozen=True)
class ExtensionModule:
    """An installed module that is compiled code: it cannot run in a proxy-wasm VM."""

    name: str
    path: Path
    folder: Path  # the installed-packages folder it is in

    def reason(self) -> str:
        """Why it cannot be bundled, naming the distribution it comes from."""
        distribution = distribution_of(self.name, self.folder)
        package = f"package {distribution!r}" if distribution else "an installed package"
        return (f"{self.name!r} (from {package}) is a C extension module ({self.path.name}), "
                "compiled for this machine, not for wasm32-wasi; only pure-Python packages "
                "can be bundled into a filter")


def installed_package_dirs(path: list[str] | None = None) -> tuple[Path, ...]:
    """The folders of ``path`` (default ``sys.path``) that hold installed packages: not the
    standard library, not zip files, not the current folder."""
    paths = sysconfig.get_paths()
    stdlib = {Path(paths[key]).resolve() for key in ("stdlib", "platstdlib")}
    folders: list[Path] = []
    for entry in sys.path if path is None else path:
        if not entry:
            continue  # '' is the current folder: a filter's neighbours are found first anyway
        folder = Path(entry).resolve()
        if not folder.is_dir() or folder in folders:
            continue
        if any(folder == root or (root in folder.parents and "site-packages" not in
                                  folder.parts and "dist-packages" not in folder.parts)
               for root in stdlib):
            continue  # the host's stdlib and lib-dynload: wasm32-wasi has its own
        folders.append(folder)
    return tuple(folders)


def find_installed(folders: tuple[Path, ...],
                   name: str) -> tuple[Path, Path, bool] | ExtensionModule | None:
    """Where ``name`` is installed: (folder, file, is_package) for Python source, an
    ``ExtensionModule`` for compiled code, None when no folder has it."""
    parts = name.split(".")
    for folder in folders:
        base = folder.joinpath(*parts)
        if (base / "__init__.py").is_file():
            return folder, base / "__init__.py", True
        if base.with_suffix(".py").is_file():
            return folder, base.with_suffix(".py"), False
        for suffix in _EXTENSION_SUFFIXES:
            compiled = base.parent / (parts[-1] + suffix)
            if compiled.is_file():
                return ExtensionModule(name, compiled, folder)
        if (base / "__init__.pyc").is_file() or base.with_suffix(".pyc").is_file():
            return None  # bytecode only: nothing to compile for the filter
    return None


def distribution_of(module: str, folder: Path) -> str | None:
    """The distribution (as pip names it) installed in ``folder`` that provides ``module``'s
    top-level package; None when no metadata says."""
    top = module.split(".")[0]
    for distribution in importlib.metadata.distributions(path=[str(folder)]):
        listed = (distribution.read_text("top_level.txt") or "").split()
        files = distribution.files or []
        if top in listed or any(file.parts[0] in (top, f"{top}.py") or
                                file.parts[0].startswith(f"{top}.") for file in files):
            return str(distribution.metadata["Name"])
    return None

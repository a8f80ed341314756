"""Pure-Python packages installed in the build's environment are bundled into a filter; C
extension modules are refused, naming the package and why (``builder/site_packages.py``)."""

from __future__ import annotations

import importlib.machinery
from pathlib import Path

import pytest

from meshwasm.builder.analyze import analyze
from meshwasm.builder.errors import FilterSourceError
from meshwasm.builder.pipeline import SDK_DIR
from meshwasm.builder.site_packages import installed_package_dirs

from .test_analyze import BUILTINS, FOOTER, HEADER, stdlib, write_filter  # noqa: F401

EXTENSION = importlib.machinery.EXTENSION_SUFFIXES[0]  # .cpython-311-<platform>.so


def _install(site: Path, files: dict[str, str], distribution: str | None = None) -> None:
    """Lay out installed files in ``site``, with the dist-info pip would write."""
    for name, text in files.items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if distribution is not None:
        info = site / f"{distribution.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        info.joinpath("METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\n"
                                             "Version: 1.0\n")
        info.joinpath("RECORD").write_text("".join(f"{name},,\n" for name in files))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    folder = tmp_path / "site-packages"
    folder.mkdir()
    return folder


def test_a_pure_python_package_is_bundled_with_what_it_imports(
        tmp_path: Path, stdlib: Path, site: Path) -> None:  # noqa: F811
    _install(site, {"slugs/__init__.py": "import json\nfrom slugs.core import slug\n",
                    "slugs/core.py": "def slug(text):\n    from slugs import later\n"
                                     "    import not_installed_anywhere\n"})
    path = write_filter(tmp_path, HEADER + "from slugs import slug\n" + FOOTER)
    closure = analyze(path, SDK_DIR, stdlib, BUILTINS, (site,))
    bundled = {name: module for name, module in closure.sources.items()
               if module.origin == "installed"}
    assert sorted(bundled) == ["slugs", "slugs.core"]
    assert bundled["slugs.core"].display_name == "<installed>/slugs/core.py"
    assert "json" in closure.sources  # its own stdlib imports too
    # and its imports inside functions are optional (they run when called, maybe never):
    # `import not_installed_anywhere` did not fail the analysis
    assert "not_installed_anywhere" not in closure.sources


def test_beside_the_filter_and_the_stdlib_come_first(tmp_path: Path, stdlib: Path,
                                                     site: Path) -> None:  # noqa: F811
    _install(site, {"json/__init__.py": "raise SystemExit\n", "helper.py": ""})
    path = write_filter(tmp_path, HEADER + "import json, helper\n" + FOOTER)
    (path.parent / "helper.py").write_text("")
    closure = analyze(path, SDK_DIR, stdlib, BUILTINS, (site,))
    assert closure.sources["json"].origin == "stdlib"
    assert closure.sources["helper"].origin == "local"


def test_a_c_extension_is_refused_naming_the_package_and_why(tmp_path: Path, stdlib: Path,
                                                             site: Path) -> None:  # noqa: F811
    _install(site, {"fastjson/__init__.py": "from fastjson._native import loads\n",
                    f"fastjson/_native{EXTENSION}": ""}, distribution="fast-json")
    path = write_filter(tmp_path, HEADER + "\nimport fastjson\n" + FOOTER)
    with pytest.raises(FilterSourceError) as caught:
        analyze(path, SDK_DIR, stdlib, BUILTINS, (site,))
    error = caught.value
    assert error.path == path and error.line == 3  # the filter's own import
    assert ("cannot bundle 'fastjson._native': 'fastjson._native' (from package 'fast-json') "
            f"is a C extension module (_native{EXTENSION}), compiled for this machine, not "
            "for wasm32-wasi; only pure-Python packages can be bundled") in error.message


def test_an_optional_c_speedup_falls_back_to_python(tmp_path: Path, stdlib: Path,
                                                    site: Path) -> None:  # noqa: F811
    _install(site, {"quick/__init__.py": "try:\n    from quick._speedups import run\n"
                                         "except ImportError:\n    from quick._py import run\n",
                    "quick/_py.py": "def run():\n    return 1\n",
                    f"quick/_speedups{EXTENSION}": ""})
    path = write_filter(tmp_path, HEADER + "import quick\n" + FOOTER)
    closure = analyze(path, SDK_DIR, stdlib, BUILTINS, (site,))
    assert {"quick", "quick._py"} <= set(closure.sources)
    assert "quick._speedups" not in closure.sources


def test_an_installed_package_needing_sockets_is_refused_at_the_filters_import(
        tmp_path: Path, stdlib: Path, site: Path) -> None:  # noqa: F811
    _install(site, {"client.py": "import socket\n"})
    path = write_filter(tmp_path, HEADER + "import client\n" + FOOTER)
    with pytest.raises(FilterSourceError) as caught:
        analyze(path, SDK_DIR, stdlib, BUILTINS, (site,))
    assert caught.value.path == path and caught.value.line == 2
    assert "cannot use 'socket' in a filter (the installed 'client' imports it" in \
        caught.value.message
    assert "a proxy-wasm VM has no sockets" in caught.value.message


def test_a_real_installed_extension_package_is_named(tmp_path: Path,
                                                     stdlib: Path) -> None:  # noqa: F811
    # rpds-py (a jsonschema dependency) is a Rust extension: rpds/rpds.cpython-*.so
    path = write_filter(tmp_path, HEADER + "import rpds\n" + FOOTER)
    with pytest.raises(FilterSourceError, match=r"'rpds\.rpds' \(from package 'rpds-py'\) "
                                                "is a C extension module"):
        analyze(path, SDK_DIR, stdlib, BUILTINS, installed_package_dirs())


def test_installed_dirs_are_sys_path_without_the_hosts_stdlib(tmp_path: Path) -> None:
    import sysconfig
    stdlib = sysconfig.get_paths()["stdlib"]
    dynload = Path(sysconfig.get_paths()["platstdlib"]) / "lib-dynload"
    folders = installed_package_dirs([stdlib, str(dynload), "", str(tmp_path),
                                      str(tmp_path / "missing"), str(tmp_path)])
    assert folders == (tmp_path.resolve(),)
    assert any(folder.name == "site-packages" for folder in installed_package_dirs())

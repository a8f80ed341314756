"""Compile CPython for wasm32-wasi with zig: configure + make, as CPython's WASI build does.

What comes out (``WasiPython``): ``libpython3.11.a`` with every extension module meshwasm
supports built in statically (a filter's module links only those its imports reach: see
``freeze.builtin_modules``), ``libmpdec.a`` and ``libexpat.a`` for ``_decimal`` and
``pyexpat``, the headers, the pure-Python standard library, and ``builtins.txt`` (the
extension modules that were built).

Choices, and why:
- ``--enable-big-digits=30``: 30-bit long digits (CPython picks 15 on 32-bit targets, but
  wasm has native 64-bit arithmetic); ``pow()`` in RSA verification runs ~3x fewer steps.
- ``-Os``: V8 in Envoy compiles every function with its optimizing tier before a VM starts,
  so start time and memory follow code size (see ``OPT``).
- The hashing modules (``_md5``, ``_sha1``, ``_sha256``, ``_sha512``, ``_sha3``,
  ``_blake2``), ``_decimal`` with the bundled libmpdec and ``pyexpat`` with the bundled
  expat are built; modules that cannot work in a proxy are not (``wasi/config.site``).
- The build is cached by the hash of everything that goes into it, and runs in a folder
  that is renamed into place, so an interrupted first build never leaves half a toolchain.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from meshwasm.builder.progress import Progress
from meshwasm.builder.toolchain.errors import ToolchainError
from meshwasm.builder.toolchain.patches import apply_patches, patches_key
from meshwasm.builder.toolchain.source import CPYTHON, SourceRelease
from meshwasm.builder.toolchain.wasi_python import WasiPython
from meshwasm.builder.zig import zig_executable, zig_version

WASI_DIR = Path(__file__).resolve().parent / "wasi"
CONFIG_SITE = WASI_DIR / "config.site"
COMPAT_HEADER = WASI_DIR / "wasi_compat.h"
# -fwrapv and NDEBUG as CPython's own release builds; the compat header comes first.
OPT = "-DNDEBUG -fwrapv -Os -Wno-int-conversion"
MAKE_TARGETS = ("libpython3.11.a", "Modules/_decimal/libmpdec/libmpdec.a",
                "Modules/expat/libexpat.a")
CONFIGURE_ARGS = ("--disable-ipv6", "--enable-big-digits=30", "--disable-test-modules",
                  "--with-ensurepip=no", "--without-pymalloc", "--without-doc-strings")
# Not copied into the toolchain's stdlib: tests, GUIs and tools no filter can use.
STDLIB_SKIP = ("test/", "idlelib/", "tkinter/", "lib2to3/", "ensurepip/", "turtledemo/",
               "venv/", "distutils/tests/", "unittest/test/", "ctypes/test/", "sqlite3/test/")


def build_key(release: SourceRelease = CPYTHON) -> str:
    """The hash of every input of the CPython build."""
    digest = hashlib.sha256()
    for part in (release.sha256, zig_version(), OPT, " ".join(CONFIGURE_ARGS),
                 " ".join(MAKE_TARGETS), CONFIG_SITE.read_text(), COMPAT_HEADER.read_text(),
                 Path(__file__).read_text(), patches_key()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One CPython build at a time per cache (two `meshwasm build`s started together)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def cached_or_built(tarball_of: Callable[[Progress], Path], toolchains: Path, progress: Progress,
                    release: SourceRelease = CPYTHON) -> WasiPython:
    """The CPython toolchain for ``release`` from ``toolchains``, built on first use."""
    key = build_key(release)
    root = toolchains / f"cpython-{release.version}-wasi-{key[:16]}"
    if (root / ".complete").exists():
        return WasiPython(root, release.version, key)
    with _locked(toolchains / ".cpython.lock"):
        if (root / ".complete").exists():  # built by another process meanwhile
            return WasiPython(root, release.version, key)
        tarball = tarball_of(progress)
        progress.step(f"compiling CPython {release.version} for wasm32-wasi "
                      "(first build only; cached afterwards)")
        with tempfile.TemporaryDirectory(prefix="cpython-build-", dir=toolchains) as scratch:
            staging = _build(tarball, Path(scratch), progress)
            (staging / ".complete").write_text(key)
            if root.exists():
                shutil.rmtree(root)
            staging.rename(root)
    return WasiPython(root, release.version, key)


def _build(tarball: Path, scratch: Path, progress: Progress) -> Path:
    source = _extract(tarball, scratch / "src", progress)
    apply_patches(source)
    tools = _zig_wrappers(scratch / "bin")
    build_dir = source / "builddir" / "wasi"
    build_dir.mkdir(parents=True)
    shutil.copy(COMPAT_HEADER, source / COMPAT_HEADER.name)
    site = scratch / "config.site"
    site.write_text((source / "Tools" / "wasm" / "config.site-wasm32-wasi").read_text()
                    + "\n" + CONFIG_SITE.read_text())
    opt = (f"{OPT} -include {source / COMPAT_HEADER.name} "
           f"-ffile-prefix-map={source}=/cpython")
    environment = dict(os.environ, CONFIG_SITE=str(site), CC=str(tools / "cc"),
                       AR=str(tools / "ar"), RANLIB=str(tools / "ranlib"), OPT=opt,
                       SOURCE_DATE_EPOCH="946684800", PYTHONHASHSEED="0",
                       # the build machine's pkg-config must not offer its own libraries
                       PKG_CONFIG_LIBDIR=str(scratch / "no-pkgconfig"), PKG_CONFIG_PATH="")
    for name in ("CFLAGS", "LDFLAGS", "CPPFLAGS", "MAKEFLAGS", "PKG_CONFIG_SYSROOT_DIR"):
        environment.pop(name, None)
    build_triple = subprocess.run([str(source / "config.guess")], capture_output=True,
                                  text=True, check=True).stdout.strip()
    # A relative path: configure records it as VPATH, which getpath.o keeps as a string, so
    # an absolute one would make two builds of the same inputs differ.
    configure = ["../../configure", "--host=wasm32-unknown-wasi",
                 f"--build={build_triple}", f"--with-build-python={sys.executable}",
                 *CONFIGURE_ARGS]
    # About one output line per "checking " in the script: a good enough total for a bar.
    checks = (source / "configure").read_text(errors="replace").count("checking ")
    _run_counted(configure, build_dir, environment, progress, "configure",
                 lambda line: line.startswith("checking "), checks, scratch / "configure.log")
    jobs = str(max(1, os.cpu_count() or 1))
    planned = subprocess.run(["make", "-n", *MAKE_TARGETS], cwd=build_dir, env=environment,
                             capture_output=True, text=True)
    compiles = sum(1 for line in planned.stdout.splitlines() if _is_compile(line))
    _run_counted(["make", f"-j{jobs}", *MAKE_TARGETS], build_dir, environment, progress,
                 "compile", _is_compile, compiles, scratch / "make.log")
    return _install(source, build_dir, scratch / "wasi-python", progress)


def _is_compile(line: str) -> bool:
    return " -c " in line and "/bin/cc " in line


def _extract(tarball: Path, destination: Path, progress: Progress) -> Path:
    progress.step(f"unpacking {tarball.name}")
    with tarfile.open(tarball) as archive:
        members = [m for m in archive.getmembers() if m.isfile() or m.isdir() or m.issym()]
        extract_filter = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(destination, members=members, **extract_filter)  # type: ignore[arg-type]
    (top,) = [entry for entry in destination.iterdir() if entry.is_dir()]
    return top


def _zig_wrappers(folder: Path) -> Path:
    """``cc``, ``ar`` and ``ranlib`` scripts for configure and make (they take one word)."""
    folder.mkdir(parents=True)
    zig = zig_executable()
    for name, command in (("cc", "cc -target wasm32-wasi"), ("ar", "ar"),
                          ("ranlib", "ranlib")):
        script = folder / name
        script.write_text(f'#!/bin/sh\nexec "{zig}" {command} "$@"\n')
        script.chmod(0o755)
    return folder


def _run_counted(command: list[str], cwd: Path, environment: dict[str, str],
                 progress: Progress, label: str, counts: Callable[[str], bool], total: int,
                 log_path: Path) -> None:
    """Run ``command``, reporting progress by the output lines ``counts`` accepts; on
    failure raise with the end of the log (errors first)."""
    done = 0
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, errors="replace")
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            if counts(line):
                done += 1
                progress.advance(label, min(done, total), max(total, done))
        status = process.wait()
    if status != 0:
        text = log_path.read_text()
        errors = [line for line in text.splitlines() if re.search(r"error[:\]]", line)]
        tail = "\n".join(errors[-15:] or text.splitlines()[-30:])
        raise ToolchainError(f"building CPython for wasm32-wasi failed at {label} "
                             f"(exit {status}):\n{tail}")


def _install(source: Path, build_dir: Path, staging: Path, progress: Progress) -> Path:
    progress.step("installing the wasm32-wasi CPython into the toolchain cache")
    include = staging / "include" / "python3.11"
    shutil.copytree(source / "Include", include)
    shutil.copy(build_dir / "pyconfig.h", include / "pyconfig.h")
    lib = staging / "lib"
    lib.mkdir(parents=True)
    for target in MAKE_TARGETS:
        shutil.copy(build_dir / target, lib / Path(target).name)
    stdlib = lib / "python3.11"
    for path in sorted((source / "Lib").rglob("*")):
        relative = path.relative_to(source / "Lib").as_posix()
        if (not path.is_file() or "__pycache__" in relative
                or relative.startswith(STDLIB_SKIP)):
            continue
        (stdlib / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, stdlib / relative)
    config_c = (build_dir / "Modules" / "config.c").read_text()
    names = sorted(set(re.findall(r'^\s*\{"([A-Za-z0-9_]+)",', config_c, re.MULTILINE)))
    (staging / "builtins.txt").write_text("\n".join(names) + "\n")
    return staging

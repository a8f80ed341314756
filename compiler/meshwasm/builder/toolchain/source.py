"""Where the CPython source tarball comes from: a local copy, the cache, or Debian's apt.

The tarball is CPython's own release archive (Debian ships it unchanged as the
``.orig.tar.gz`` of its ``python3.11`` source package), pinned by sha256.  In order:

1. ``$MESHWASM_CPYTHON_SOURCE``: a tarball the user fetched (offline builds);
2. the download cache (``$MESHWASM_CACHE/downloads``);
3. ``apt-get source --download-only python3.11`` on a Debian machine with a ``deb-src``
   entry (``make setup`` adds one for the mirror apt already uses).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from meshwasm.builder.progress import Progress
from meshwasm.builder.toolchain.errors import ToolchainError


@dataclass(frozen=True)
class SourceRelease:
    version: str
    sha256: str
    debian_package: str
    debian_file: str
    upstream_file: str

    @property
    def upstream_url(self) -> str:
        return f"https://www.python.org/ftp/python/{self.version}/{self.upstream_file}"


CPYTHON = SourceRelease(
    version="3.11.2",
    sha256="2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849",
    debian_package="python3.11",
    debian_file="python3.11_3.11.2.orig.tar.gz",
    upstream_file="Python-3.11.2.tgz",
)
SOURCE_ENVIRONMENT = "MESHWASM_CPYTHON_SOURCE"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _checked(path: Path, release: SourceRelease, origin: str) -> Path:
    actual = sha256_file(path)
    if actual != release.sha256:
        raise ToolchainError(
            f"{path} ({origin}): sha256 {actual} does not match CPython {release.version}'s "
            f"pinned {release.sha256}; use the release tarball {release.upstream_file}")
    return path


def _from_apt(release: SourceRelease, downloads: Path, progress: Progress) -> Path | None:
    """Fetch the tarball with apt's own client; None when apt is not there."""
    if shutil.which("apt-get") is None:
        return None
    progress.step(f"downloading CPython {release.version} sources with apt-get source "
                  f"{release.debian_package}")
    with tempfile.TemporaryDirectory(dir=downloads) as scratch:
        result = subprocess.run(
            ["apt-get", "source", "--download-only", "-q", release.debian_package],
            cwd=scratch, capture_output=True, text=True)
        fetched = Path(scratch) / release.debian_file
        # Only the .orig tarball is used: a missing Debian diff (a mirror that lags behind
        # the security suite) fails apt-get but does not matter here.
        if not fetched.exists():
            raise ToolchainError(
                f"apt-get source --download-only {release.debian_package} failed "
                f"(exit {result.returncode}):\n{result.stderr.strip()}\n"
                f"{_where_to_get_it(release)}")
        _checked(fetched, release, "from apt-get source")
        target = downloads / release.debian_file
        fetched.replace(target)
    return target


def _where_to_get_it(release: SourceRelease) -> str:
    return (f"meshwasm compiles CPython {release.version} for wasm32-wasi from its source "
            f"tarball (sha256 {release.sha256}). Either run `make setup` on Debian (it adds a "
            f"deb-src entry so `apt-get source {release.debian_package}` works), or download "
            f"{release.upstream_url} yourself and set {SOURCE_ENVIRONMENT}=/path/to/"
            f"{release.upstream_file}.")


def cpython_source(downloads: Path, progress: Progress, release: SourceRelease = CPYTHON) -> Path:
    """The verified source tarball of ``release``, fetching it on first use."""
    configured = os.environ.get(SOURCE_ENVIRONMENT)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ToolchainError(f"{SOURCE_ENVIRONMENT}={configured}: no such file")
        return _checked(path, release, f"from {SOURCE_ENVIRONMENT}")
    downloads.mkdir(parents=True, exist_ok=True)
    for name in (release.debian_file, release.upstream_file):
        if (downloads / name).is_file():
            return _checked(downloads / name, release, "in the download cache")
    fetched = _from_apt(release, downloads, progress)
    if fetched is None:
        raise ToolchainError(f"no CPython source tarball found. {_where_to_get_it(release)}")
    return fetched

"""Where the CPython source tarball comes from, and what the user is told when it is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.builder.progress import Silent
from meshwasm.builder.toolchain import source
from meshwasm.builder.toolchain.errors import ToolchainError


def test_a_local_tarball_with_the_wrong_hash_is_refused_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tarball = tmp_path / "Python-3.11.2.tgz"
    tarball.write_bytes(b"not the release")
    monkeypatch.setenv(source.SOURCE_ENVIRONMENT, str(tarball))
    with pytest.raises(ToolchainError) as caught:
        source.cpython_source(tmp_path / "downloads", Silent())
    assert str(tarball) in str(caught.value) and source.CPYTHON.sha256 in str(caught.value)


def test_a_missing_local_tarball_is_named(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(source.SOURCE_ENVIRONMENT, str(tmp_path / "absent.tgz"))
    with pytest.raises(ToolchainError, match="absent.tgz: no such file"):
        source.cpython_source(tmp_path / "downloads", Silent())


def test_without_apt_or_a_tarball_the_error_says_where_to_get_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(source.SOURCE_ENVIRONMENT, raising=False)
    monkeypatch.setattr(source.shutil, "which", lambda name: None)
    with pytest.raises(ToolchainError) as caught:
        source.cpython_source(tmp_path / "downloads", Silent())
    message = str(caught.value)
    assert source.CPYTHON.upstream_url in message and source.SOURCE_ENVIRONMENT in message


def test_a_cached_tarball_is_used_when_its_hash_matches(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(source.SOURCE_ENVIRONMENT, raising=False)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    cached = downloads / source.CPYTHON.upstream_file
    cached.write_bytes(b"pretend release")
    release = source.SourceRelease("3.11.2", source.sha256_file(cached), "python3.11",
                                   "python3.11_3.11.2.orig.tar.gz", cached.name)
    assert source.cpython_source(downloads, Silent(), release) == cached

"""Paths inside a CPython built for wasm32-wasi, as the build stages read them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path


@dataclass(frozen=True)
class WasiPython:
    root: Path
    version: str
    key: str  # hash of everything the toolchain was built from

    @property
    def include(self) -> Path:
        return self.root / "include" / "python3.11"

    @property
    def libpython(self) -> Path:
        return self.root / "lib" / "libpython3.11.a"

    @property
    def support_archives(self) -> tuple[Path, ...]:
        """Libraries some extension modules need (linked after libpython, only as used)."""
        return (self.root / "lib" / "libmpdec.a", self.root / "lib" / "libexpat.a")

    @property
    def stdlib(self) -> Path:
        return self.root / "lib" / "python3.11"

    @cached_property
    def builtin_modules(self) -> frozenset[str]:
        """Extension modules compiled into libpython (its Modules/config.c)."""
        return frozenset((self.root / "builtins.txt").read_text().split())

    @property
    def description(self) -> str:
        return f"{self.version} for wasm32-wasi (CPython built by meshwasm, {self.key[:16]})"

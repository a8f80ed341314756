"""Embed the data files beside a filter (``*.json``) as a generated module.

``proxy_wasm.resources.read(name)`` looks them up there inside the module, which has no
filesystem.  Only filters that import ``proxy_wasm.resources`` get the module.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from meshwasm.builder.errors import FilterSourceError
from meshwasm.builder.modules import Closure, SourceModule
from meshwasm.builder.toolchain import cache_root

MODULE_NAME = "_meshwasm_resources"
PATTERNS = ("*.json",)
MAX_BYTES = 1 << 20


def _resource_files(filter_dir: Path) -> list[Path]:
    found = sorted({path for pattern in PATTERNS for path in filter_dir.glob(pattern)})
    for path in found:
        if path.stat().st_size > MAX_BYTES:
            raise FilterSourceError(path, None, f"data file larger than {MAX_BYTES} bytes; "
                                    "a filter's embedded files must stay small")
    return found


def add_resources(closure: Closure, filter_dir: Path) -> None:
    """Add the generated resources module to ``closure`` when the filter reads resources."""
    if "proxy_wasm.resources" not in closure.sources:
        return
    lines = ['"""Data files embedded by meshwasm build."""', "RESOURCES = {"]
    for path in _resource_files(filter_dir):
        lines.append(f"    {path.name!r}: {path.read_bytes()!r},")
    lines.append("}")
    source = "\n".join(lines) + "\n"
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    generated = cache_root() / "resources" / f"{digest}.py"
    if not generated.exists():
        generated.parent.mkdir(parents=True, exist_ok=True)
        partial = generated.with_suffix(".partial")
        partial.write_text(source)
        partial.replace(generated)
    closure.sources[MODULE_NAME] = SourceModule(MODULE_NAME, generated, False, "generated",
                                                "<meshwasm resources>")

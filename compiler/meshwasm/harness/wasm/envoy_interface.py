"""What Envoy checks of a module before it runs any of it: the ABI version export, every
import against the host functions Envoy registers, and the types of the callbacks it calls.

Used by the harness before it links a module and by the Envoy engine (``meshwasm replay
--engine envoy``, ``run``, ``dev --envoy``) before it starts Envoy, so that a module Envoy
would refuse gets one message naming every cause instead of a trace log.

A module may import the same function more than once (Go's wasip1 modules import
``fd_write`` and ``random_get`` twice); V8 links each import on its own, so Envoy runs them.
Only the first occurrence is linked here; every occurrence is type-checked.
"""

from __future__ import annotations

from dataclasses import dataclass
import wasmtime

from meshwasm import abi_table
from meshwasm.harness.errors import ModuleError
from meshwasm.harness.wasm import proxy_imports, wasi
from meshwasm.harness.wasm.ffi import signature_of

ABI_EXPORTS = ("proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0")

# Exports Envoy calls, with their signatures; a missing callback is skipped, as Envoy skips it.
CALLBACKS = abi_table.callback_signatures()
START_FUNCTIONS = {"_initialize": ">", "main": "ii>i", "__main_void": ">i", "_start": ">"}
ALLOCATORS = {"malloc": "i>i", "proxy_on_memory_allocate": "i>i"}


@dataclass(frozen=True)
class HostImport:
    """One distinct function the module imports, with the signature Envoy gives it."""

    module: str
    name: str
    signature: str


@dataclass(frozen=True)
class ModuleInterface:
    abi_version: str
    imports: tuple[HostImport, ...]  # distinct (module, name), first occurrence order


def envoy_signature(module: str, name: str, abi_version: str) -> str | None:
    """The signature of the host function Envoy registers as ``module.name``; None if none."""
    if module == "env" and name in proxy_imports.SIGNATURES:
        if abi_version == "proxy_abi_version_0_2_0" and \
                abi_table.HOST_BY_NAME[name].since != "0.2.0":
            return None  # added later (proxy_get_log_level: 0.2.1)
        return proxy_imports.SIGNATURES[name]
    if module in wasi.MODULES and name in wasi.SIGNATURES:
        return wasi.SIGNATURES[name]
    return None


def describe(signature: str | None) -> str:
    """``"ii>i"`` -> ``(i32, i32) -> (i32)``."""
    if signature is None:
        return "(not a function of i32/i64)"
    names = {"i": "i32", "I": "i64"}
    params, results = signature.split(">")
    return (f"({', '.join(names[k] for k in params)}) -> "
            f"({', '.join(names[k] for k in results)})")


def expected_export(name: str) -> str | None:
    return CALLBACKS.get(name) or START_FUNCTIONS.get(name) or ALLOCATORS.get(name)


def _import_problems(module: wasmtime.Module, abi_version: str,
                     table: dict[tuple[str, str], HostImport]) -> list[str]:
    problems = []
    for item in module.imports:
        where = f"{item.module}.{item.name}"
        signature = envoy_signature(item.module or "", item.name or "", abi_version)
        if signature is None:
            problems.append(f"imports {where}, which Envoy does not provide "
                            "(the VM would fail to load: missing import)")
            continue
        wanted = signature_of(item.type) if isinstance(item.type, wasmtime.FuncType) else None
        if wanted != signature:
            problems.append(f"imports {where} with type {describe(wanted)}, but Envoy "
                            f"provides {describe(signature)}")
            continue
        key = (item.module or "", item.name or "")
        table.setdefault(key, HostImport(key[0], key[1], signature))
    return problems


def _export_problems(module: wasmtime.Module) -> list[str]:
    problems = []
    for export in module.exports:
        expected = expected_export(export.name)
        if expected is None or not isinstance(export.type, wasmtime.FuncType):
            continue
        actual = signature_of(export.type)
        if actual != expected:
            problems.append(f"exports {export.name} with type {describe(actual)}, but Envoy "
                            f"calls it as {describe(expected)}")
    kinds = {export.name: export.type for export in module.exports}
    if not isinstance(kinds.get("memory"), wasmtime.MemoryType):
        problems.append("exports no memory named 'memory'")
    if not any(isinstance(kinds.get(name), wasmtime.FuncType) for name in ALLOCATORS):
        problems.append("is missing malloc function (exports neither malloc nor "
                        "proxy_on_memory_allocate)")
    return problems


def check_module(module: wasmtime.Module, label: str) -> ModuleInterface:
    """The module's interface as Envoy would link it; ``ModuleError`` naming every reason
    Envoy would refuse it (one per line) otherwise."""
    names = {export.name for export in module.exports}
    abi_version = next((name for name in ABI_EXPORTS if name in names), None)
    if abi_version is None:
        raise ModuleError(
            f"{label}: missing or unknown Proxy-Wasm ABI version (it exports none of "
            f"{', '.join(ABI_EXPORTS)}); Envoy refuses such a module")
    table: dict[tuple[str, str], HostImport] = {}
    problems = _import_problems(module, abi_version, table) + _export_problems(module)
    if len(problems) == 1:
        raise ModuleError(f"{label}: {problems[0]}")
    if problems:
        raise ModuleError(f"{label}: Envoy would refuse this module:\n"
                          + "\n".join(f"  - it {problem}" for problem in problems))
    return ModuleInterface(abi_version, tuple(table.values()))


"""Load a proxy-wasm module in wasmtime, link Envoy's imports, and call its exports."""

from __future__ import annotations

from pathlib import Path

import wasmtime

from meshwasm.harness.errors import ModuleError
from meshwasm.harness.host import Host
from meshwasm.harness.wasm import epoch, proxy_imports, wasi
from meshwasm.harness.wasm.ffi import FastFunc, HostErrors, define_host_func, signature_of
from meshwasm.harness.wasm.memory import GuestMemory

ABI_EXPORTS = ("proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0")

# Exports Envoy calls, with their signatures; a missing callback is skipped, as Envoy skips it.
CALLBACKS = {
    "proxy_on_context_create": "ii>", "proxy_on_vm_start": "ii>i", "proxy_on_configure": "ii>i",
    "proxy_on_request_headers": "iii>i", "proxy_on_request_body": "iii>i",
    "proxy_on_request_trailers": "ii>i", "proxy_on_response_headers": "iii>i",
    "proxy_on_response_body": "iii>i", "proxy_on_response_trailers": "ii>i",
    "proxy_on_done": "i>i", "proxy_on_log": "i>", "proxy_on_delete": "i>", "proxy_on_tick": "i>",
    "proxy_on_queue_ready": "ii>", "proxy_on_http_call_response": "iiiii>",
}
START_FUNCTIONS = {"_initialize": ">", "main": "ii>i", "__main_void": ">i", "_start": ">"}
ALLOCATORS = {"malloc": "i>i", "proxy_on_memory_allocate": "i>i"}

_engine: wasmtime.Engine | None = None


def shared_engine() -> wasmtime.Engine:
    """One wasmtime engine per process, with wasmtime's compilation cache when available."""
    global _engine
    if _engine is None:
        config = wasmtime.Config()
        try:
            config.cache = True
        except wasmtime.WasmtimeError:
            pass  # no cache directory: compile every time
        config.epoch_interruption = True  # the callback time limit (epoch.py)
        _engine = wasmtime.Engine(config)
        epoch.start_ticker(_engine)
    return _engine


def load_module(path: Path) -> wasmtime.Module:
    """Compile ``path``; a missing or invalid file raises ``ModuleError``."""
    try:
        return wasmtime.Module.from_file(shared_engine(), str(path))
    except FileNotFoundError:
        raise ModuleError(f"{path}: no such module file") from None
    except wasmtime.WasmtimeError as error:
        raise ModuleError(f"{path}: not a valid Wasm module: {error}") from None


class WasmGuest:
    """One instance of a module, its imports bound to ``host``.

    ``callbacks`` maps each exported ``proxy_on_*`` name to a fast caller; the stream driver
    looks them up once.  Traps surface as ``GuestTrap`` from those callers.
    """

    def __init__(self, module: wasmtime.Module, host: Host, label: str = "module") -> None:
        self.label = label
        exports = {e.name: e for e in module.exports}
        abi_version = next((name for name in ABI_EXPORTS if name in exports), None)
        if abi_version is None:
            raise ModuleError(
                f"{label}: missing or unknown Proxy-Wasm ABI version (it exports none of "
                f"{', '.join(ABI_EXPORTS)}); Envoy refuses such a module")
        self.abi_version = abi_version
        self.store = wasmtime.Store(shared_engine())
        self.time_limit_s = host.options.callback_time_limit_s
        self.store.set_epoch_deadline(epoch.deadline_ticks(self.time_limit_s))  # start code
        self.errors = HostErrors()
        self._keep: list[object] = []
        self.memory = GuestMemory(self.store)
        linker = wasmtime.Linker(shared_engine())
        self._link(module, linker, host, abi_version)
        try:
            instance = linker.instantiate(self.store, module)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as error:
            raise ModuleError(f"{label}: failed to instantiate: {error}") from None
        found = instance.exports(self.store)
        memory = found.get("memory")
        if not isinstance(memory, wasmtime.Memory):
            raise ModuleError(f"{label}: exports no memory named 'memory'")
        allocator_name = next((n for n in ALLOCATORS
                               if isinstance(found.get(n), wasmtime.Func)), None)
        if allocator_name is None:
            raise ModuleError(f"{label}: is missing malloc function "
                              "(exports neither malloc nor proxy_on_memory_allocate)")
        self.memory.attach(memory, self._fast(found, allocator_name))
        self.callbacks: dict[str, FastFunc] = {
            name: self._fast(found, name) for name in CALLBACKS
            if isinstance(found.get(name), wasmtime.Func)}
        self._start_functions = {name: self._fast(found, name) for name in START_FUNCTIONS
                                 if isinstance(found.get(name), wasmtime.Func)}

    def _fast(self, found: object, name: str) -> FastFunc:
        """A fast caller for export ``name``, once its type is checked: the unchecked call
        path must never see a type it does not expect."""
        func = found[name]  # type: ignore[index]
        expected = CALLBACKS.get(name) or START_FUNCTIONS.get(name) or ALLOCATORS[name]
        actual = signature_of(func.type(self.store))
        if actual != expected:
            raise ModuleError(f"{self.label}: exports {name} with type {_describe(actual)}, "
                              f"but Envoy calls it as {_describe(expected)}")
        return FastFunc(self.store, func, name, self.errors, self.time_limit_s)

    def _link(self, module: wasmtime.Module, linker: wasmtime.Linker, host: Host,
              abi_version: str) -> None:
        proxy = proxy_imports.proxy_functions(host, self.memory)
        wasi_funcs = wasi.wasi_functions(host, self.memory)
        for item in module.imports:
            where = f"{item.module}.{item.name}"
            signature, impl = None, None
            if item.module == "env" and item.name in proxy_imports.SIGNATURES:
                if not (item.name == "proxy_get_log_level"
                        and abi_version == "proxy_abi_version_0_2_0"):
                    signature = proxy_imports.SIGNATURES[item.name]
                    impl = proxy[item.name]
            elif item.module in wasi.MODULES and item.name in wasi.SIGNATURES:
                signature, impl = wasi.SIGNATURES[item.name], wasi_funcs[item.name]
            if impl is None or signature is None:
                raise ModuleError(
                    f"{self.label}: imports {where}, which Envoy does not provide "
                    f"(the VM would fail to load: missing import)")
            wanted = signature_of(item.type) if isinstance(item.type, wasmtime.FuncType) \
                else None
            if wanted != signature:
                raise ModuleError(
                    f"{self.label}: imports {where} with type {_describe(wanted)}, "
                    f"but Envoy provides {_describe(signature)}")
            define_host_func(linker, item.module or "", item.name or "", signature, impl,
                             self.errors, self._keep)

    def start(self) -> None:
        """Run the module's start code as Envoy does: ``_initialize`` then ``main(0, 0)`` or
        ``__main_void`` for a reactor; ``_start`` for a command."""
        starts = self._start_functions
        if "_initialize" in starts:
            starts["_initialize"]()
            if "main" in starts:
                starts["main"](0, 0)
            elif "__main_void" in starts:
                starts["__main_void"]()
        elif "_start" in starts:
            starts["_start"]()


def _describe(signature: str | None) -> str:
    if signature is None:
        return "(not a function of i32/i64)"
    names = {"i": "i32", "I": "i64"}
    params, results = signature.split(">")
    return (f"({', '.join(names[k] for k in params)}) -> "
            f"({', '.join(names[k] for k in results)})")

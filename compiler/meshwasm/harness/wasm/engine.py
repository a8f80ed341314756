"""Load a proxy-wasm module in wasmtime, link Envoy's imports, and call its exports."""

from __future__ import annotations

from pathlib import Path

import wasmtime

from meshwasm.harness.errors import ModuleError
from meshwasm.harness.host import Host
from meshwasm.harness.wasm import epoch, proxy_imports, wasi
from meshwasm.harness.wasm.envoy_interface import (
    ALLOCATORS, CALLBACKS, START_FUNCTIONS, ModuleInterface, check_module,
)
from meshwasm.harness.wasm.ffi import FastFunc, HostErrors, define_host_func
from meshwasm.harness.wasm.memory import GuestMemory

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


def check_module_file(path: Path) -> ModuleInterface:
    """What Envoy checks before running the module at ``path`` (``envoy_interface``);
    ``ModuleError`` naming every reason it would refuse it."""
    return check_module(load_module(path), str(path))


class WasmGuest:
    """One instance of a module, its imports bound to ``host``.

    ``callbacks`` maps each exported ``proxy_on_*`` name to a fast caller; the stream driver
    looks them up once.  Traps surface as ``GuestTrap`` from those callers.
    """

    def __init__(self, module: wasmtime.Module, host: Host, label: str = "module") -> None:
        self.label = label
        interface = check_module(module, label)
        self.abi_version = interface.abi_version
        self.store = wasmtime.Store(shared_engine())
        self.time_limit_s = host.options.callback_time_limit_s
        self.store.set_epoch_deadline(epoch.deadline_ticks(self.time_limit_s))  # start code
        self.errors = HostErrors()
        self._keep: list[object] = []
        self.memory = GuestMemory(self.store)
        linker = wasmtime.Linker(shared_engine())
        self._link(interface, linker, host)
        try:
            instance = linker.instantiate(self.store, module)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as error:
            raise ModuleError(f"{label}: failed to instantiate: {error}") from None
        found = instance.exports(self.store)
        memory = found["memory"]  # check_module: a memory named 'memory' and an allocator
        assert isinstance(memory, wasmtime.Memory)
        allocator_name = next(name for name in ALLOCATORS if name in found)
        self.memory.attach(memory, self._fast(found, allocator_name))
        self.callbacks: dict[str, FastFunc] = {
            name: self._fast(found, name) for name in CALLBACKS
            if isinstance(found.get(name), wasmtime.Func)}
        self._start_functions = {name: self._fast(found, name) for name in START_FUNCTIONS
                                 if isinstance(found.get(name), wasmtime.Func)}

    def _fast(self, found: object, name: str) -> FastFunc:
        """A fast caller for export ``name`` (its type was checked by ``check_module``: the
        unchecked call path must never see a type it does not expect)."""
        return FastFunc(self.store, found[name], name, self.errors,  # type: ignore[index]
                        self.time_limit_s)

    def _link(self, interface: ModuleInterface, linker: wasmtime.Linker, host: Host) -> None:
        """Define each distinct import once (``check_module`` checked them all)."""
        proxy_funcs = proxy_imports.proxy_functions(host, self.memory)
        wasi_funcs = wasi.wasi_functions(host, self.memory)
        for item in interface.imports:
            impl = (proxy_funcs if item.module == "env" else wasi_funcs)[item.name]
            define_host_func(linker, item.module, item.name, item.signature, impl,
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


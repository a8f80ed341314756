"""Wasm instructions a filter executes per request, counted by wasmtime's fuel: a
deterministic measure of the guest's own work (no host, no Envoy, no machine noise), for the
compiled Python filter against the raw-ABI C filter doing the same job.

Each request is the callback sequence Envoy makes for a GET that reaches the upstream:
context create, request headers, response headers, log, done, delete.  Host calls are
answered by cheap stand-ins (a fixed header map), so only guest work is counted.

    python bench/guest_instructions.py [FILTER.py] [--requests N]
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
from pathlib import Path

import wasmtime

from meshwasm.build.pipeline import build_filter
from meshwasm.build.zig import compile_raw_c_filter

PROJECT = Path(__file__).resolve().parent.parent
REQUEST = {":path": b"/products", ":method": b"GET", ":authority": b"example.com"}
RESPONSE = {":status": b"200", "content-type": b"text/plain"}
FUEL = 10**12


class StandInHost:
    """Just enough of a proxy for a header filter: header maps, configuration, time, logs."""

    def __init__(self, plugin_config: bytes) -> None:
        self.plugin_config = plugin_config
        self.memory: wasmtime.Memory | None = None
        self.allocate: wasmtime.Func | None = None

    def _give(self, caller: wasmtime.Caller, data: bytes, pointer_out: int, size_out: int) -> None:
        assert self.allocate is not None and self.memory is not None
        address = self.allocate(caller, len(data)) if data else 0
        if data:
            self.memory.write(caller, data, address)
        self.memory.write(caller, struct.pack("<I", address), pointer_out)
        self.memory.write(caller, struct.pack("<I", len(data)), size_out)

    def functions(self) -> dict[str, object]:
        def get_header(caller: wasmtime.Caller, map_type: int, key: int, key_size: int,
                       out: int, out_size: int) -> int:
            assert self.memory is not None
            name = self.memory.read(caller, key, key + key_size).decode()
            value = (REQUEST if map_type == 0 else RESPONSE).get(name)
            if value is None:
                return 1
            self._give(caller, value, out, out_size)
            return 0

        def get_buffer(caller: wasmtime.Caller, kind: int, start: int, length: int, out: int,
                       out_size: int) -> int:
            self._give(caller, self.plugin_config, out, out_size)
            return 0

        def now(caller: wasmtime.Caller, out: int) -> int:
            assert self.memory is not None
            self.memory.write(caller, struct.pack("<Q", 1_700_000_000 * 10**9), out)
            return 0

        return {"proxy_get_header_map_value": get_header, "proxy_get_buffer_bytes": get_buffer,
                "proxy_get_current_time_nanoseconds": now}


def instructions_per_request(module_path: Path, requests: int,
                             host: StandInHost | None = None) -> float:
    """Fuel per request after 100 warm-up requests; ``host`` (default: plugin configuration
    ``b"x"``, the fixed header maps) answers the module's host calls."""
    config = wasmtime.Config()
    config.consume_fuel = True
    engine = wasmtime.Engine(config)
    module = wasmtime.Module.from_file(engine, str(module_path))
    store = wasmtime.Store(engine)
    store.set_fuel(FUEL)
    host = host or StandInHost(b"x")
    special = host.functions()
    linker = wasmtime.Linker(engine)
    for item in module.imports:
        assert isinstance(item.type, wasmtime.FuncType)
        if item.name in special:
            linker.define_func(item.module, item.name, item.type, special[item.name],
                               access_caller=True)  # type: ignore[arg-type]
        else:
            results = len(item.type.results)
            linker.define_func(item.module, item.name, item.type,
                               lambda *args, _n=results: 0 if _n else None)
    instance = linker.instantiate(store, module)
    exports = instance.exports(store)
    host.memory = exports["memory"]  # type: ignore[assignment]
    host.allocate = exports["proxy_on_memory_allocate"]  # type: ignore[assignment]
    if "_initialize" in exports:
        exports["_initialize"](store)  # type: ignore[operator]
    call = {name: exports[name] for name in (
        "proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure",
        "proxy_on_request_headers", "proxy_on_response_headers", "proxy_on_log",
        "proxy_on_done", "proxy_on_delete")}
    call["proxy_on_context_create"](store, 1, 0)  # type: ignore[operator]
    call["proxy_on_vm_start"](store, 1, 0)  # type: ignore[operator]
    call["proxy_on_configure"](store, 1, 1)  # type: ignore[operator]

    def one_request(context_id: int) -> None:
        call["proxy_on_context_create"](store, context_id, 1)  # type: ignore[operator]
        call["proxy_on_request_headers"](store, context_id, 3, 1)  # type: ignore[operator]
        call["proxy_on_response_headers"](store, context_id, 2, 0)  # type: ignore[operator]
        call["proxy_on_log"](store, context_id)  # type: ignore[operator]
        call["proxy_on_done"](store, context_id)  # type: ignore[operator]
        call["proxy_on_delete"](store, context_id)  # type: ignore[operator]

    for warm in range(100):
        one_request(2 + warm)
    before = store.get_fuel()
    for index in range(requests):
        one_request(1000 + index)
    return (before - store.get_fuel()) / requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filter", nargs="?", type=Path,
                        default=PROJECT / "examples" / "hello" / "filter.py")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        python_module = build_filter(args.filter, work / "filter.wasm").output
        c_module = compile_raw_c_filter(PROJECT / "runtime_tests" / "other_sdk" / "hello_c.c",
                                        work / "hello_c.wasm")
        c_cost = instructions_per_request(c_module, args.requests)
        python_cost = instructions_per_request(python_module, args.requests)
    print(f"wasm instructions per request (fuel, {args.requests} requests):")
    print(f"  C filter       {c_cost:10.0f}")
    print(f"  python filter  {python_cost:10.0f}   ({python_cost / c_cost:.0f}x the C filter)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

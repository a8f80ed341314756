"""Wasm instructions and host calls a filter makes per request, counted by wasmtime's fuel and
by the stand-in host: a deterministic measure of the guest's own work (no Envoy, no machine
noise), for compiled Python filters against the raw-ABI C filter doing hello's job.

Each request is the callback sequence Envoy makes for a GET that reaches the upstream:
context create, request headers (end of stream), response headers, response body (end of
stream), log, done, delete; a callback the module does not export is skipped, as Envoy skips
it.  Host calls are answered by a small stand-in proxy (header maps, shared data with
compare-and-swap, properties, metrics, a fixed clock), so only guest work is counted as fuel;
host calls are counted separately (in Envoy each one costs a V8 -> C++ transition and copies).

Scenarios (``--scenario``, default all): ``hello`` (examples/hello), ``rate_limit`` (a per-user
limit that never empties), ``fault`` (header-controlled abort and delay, no fault headers sent),
``jwt_authn`` (an HS256 token that is already in the token cache), ``jwt_authn_fresh`` (a new
HS256 token each request: parsed, verified, cached).

    python bench/guest_instructions.py [--scenario NAME ...] [--requests N] [--calls]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import struct
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime

from meshwasm.builder.pipeline import build_filter
from meshwasm_testkit.raw_c_filter import compile_raw_c_filter
from meshwasm.harness.foreign import call_foreign_function

PROJECT = Path(__file__).resolve().parent.parent
REQUEST = {":path": b"/products", ":method": b"GET", ":authority": b"example.com",
           ":scheme": b"http"}
RESPONSE = {":status": b"200", "content-type": b"text/plain"}
NOW_NS = 1_700_000_000 * 10**9
FUEL = 10**12
OK, NOT_FOUND, CAS_MISMATCH = 0, 1, 8


class StandInHost:
    """Just enough of a proxy for the shipped filters: header maps (fresh for each request),
    configuration, a fixed clock, shared data, properties and metric ids.  ``calls`` counts
    every ``env`` import the module called, by name."""

    def __init__(self, plugin_config: bytes, request: dict[str, bytes] | None = None,
                 response: dict[str, bytes] | None = None,
                 properties: dict[str, bytes] | None = None,
                 vary: Callable[[int], dict[str, bytes]] | None = None) -> None:
        self.plugin_config = plugin_config
        self.request_template = dict(REQUEST if request is None else request)
        self.vary = vary  # request number -> headers that change with each request
        self.requests = 0
        self.response_template = dict(RESPONSE if response is None else response)
        self.properties = properties or {}
        self.maps: dict[int, list[tuple[str, bytes]]] = {}
        self.shared: dict[bytes, tuple[bytes, int]] = {}
        self.metrics = 0
        self.calls: Counter[str] = Counter()
        self.memory: wasmtime.Memory | None = None
        self.allocate: wasmtime.Func | None = None
        self.new_request()

    def new_request(self) -> None:
        """Fresh header maps (a filter's writes must not leak into the next request)."""
        self.requests += 1
        varied = self.vary(self.requests) if self.vary else {}
        self.maps = {0: list({**self.request_template, **varied}.items()),
                     2: list(self.response_template.items())}

    def header(self, map_type: int, name: str) -> bytes | None:
        for key, value in self.maps.get(map_type, ()):
            if key == name:
                return value
        return None

    # -- guest memory -------------------------------------------------------------------------
    def _read(self, caller: Any, address: int, size: int) -> bytes:
        assert self.memory is not None
        return bytes(self.memory.read(caller, address, address + size))

    def _give(self, caller: Any, data: bytes, pointer_out: int, size_out: int) -> None:
        assert self.allocate is not None and self.memory is not None
        address = self.allocate(caller, len(data)) if data else 0
        if data:
            self.memory.write(caller, data, address)
        self.memory.write(caller, struct.pack("<I", address), pointer_out)
        self.memory.write(caller, struct.pack("<I", len(data)), size_out)

    def _put_u32(self, caller: Any, value: int, out: int) -> None:
        assert self.memory is not None
        self.memory.write(caller, struct.pack("<I", value), out)

    # -- the imports ----------------------------------------------------------------------------
    def functions(self) -> dict[str, Any]:
        """Import name -> implementation (taking the caller first); others answer 0."""
        return {
            "proxy_get_header_map_value": self._get_header,
            "proxy_get_header_map_pairs": self._get_pairs,
            "proxy_add_header_map_value": self._add_header,
            "proxy_replace_header_map_value": self._replace_header,
            "proxy_remove_header_map_value": self._remove_header,
            "proxy_get_buffer_bytes": self._get_buffer,
            "proxy_get_current_time_nanoseconds": self._now,
            "proxy_get_shared_data": self._get_shared,
            "proxy_set_shared_data": self._set_shared,
            "proxy_get_property": self._get_property,
            "proxy_define_metric": self._define_metric,
            "proxy_call_foreign_function": self._call_foreign_function,
        }

    def _call_foreign_function(self, caller: Any, name: int, name_size: int, argument: int,
                               argument_size: int, out: int, out_size: int) -> int:
        """As Envoy: ``verify_signature`` runs in the proxy (its time is not guest work)."""
        status, result = call_foreign_function(self._read(caller, name, name_size),
                                               self._read(caller, argument, argument_size))
        if status == OK:
            self._give(caller, result, out, out_size)
        return status

    def _get_header(self, caller: Any, map_type: int, key: int, key_size: int, out: int,
                    out_size: int) -> int:
        value = self.header(map_type, self._read(caller, key, key_size).decode())
        if value is None:
            return NOT_FOUND
        self._give(caller, value, out, out_size)
        return OK

    def _get_pairs(self, caller: Any, map_type: int, out: int, out_size: int) -> int:
        self._give(caller, serialize_pairs(self.maps.get(map_type, [])), out, out_size)
        return OK

    def _add_header(self, caller: Any, map_type: int, key: int, key_size: int, value: int,
                    value_size: int) -> int:
        self.maps.setdefault(map_type, []).append(
            (self._read(caller, key, key_size).decode(), self._read(caller, value, value_size)))
        return OK

    def _replace_header(self, caller: Any, map_type: int, key: int, key_size: int, value: int,
                        value_size: int) -> int:
        self._remove_header(caller, map_type, key, key_size)
        return self._add_header(caller, map_type, key, key_size, value, value_size)

    def _remove_header(self, caller: Any, map_type: int, key: int, key_size: int) -> int:
        name = self._read(caller, key, key_size).decode()
        self.maps[map_type] = [pair for pair in self.maps.get(map_type, []) if pair[0] != name]
        return OK

    def _get_buffer(self, caller: Any, kind: int, start: int, length: int, out: int,
                    out_size: int) -> int:
        self._give(caller, self.plugin_config, out, out_size)
        return OK

    def _now(self, caller: Any, out: int) -> int:
        assert self.memory is not None
        self.memory.write(caller, struct.pack("<Q", NOW_NS), out)
        return OK

    def _get_shared(self, caller: Any, key: int, key_size: int, out: int, out_size: int,
                    cas_out: int) -> int:
        entry = self.shared.get(self._read(caller, key, key_size))
        if entry is None:
            return NOT_FOUND
        self._give(caller, entry[0], out, out_size)
        self._put_u32(caller, entry[1], cas_out)
        return OK

    def _set_shared(self, caller: Any, key: int, key_size: int, value: int, value_size: int,
                    cas: int) -> int:
        name = self._read(caller, key, key_size)
        current = self.shared.get(name)
        if cas and current is not None and current[1] != cas:
            return CAS_MISMATCH
        version = (current[1] if current else 0) + 1
        self.shared[name] = (self._read(caller, value, value_size), version)
        return OK

    def _get_property(self, caller: Any, path: int, path_size: int, out: int,
                      out_size: int) -> int:
        value = self.properties.get(self._read(caller, path, path_size).decode())
        if value is None:
            return NOT_FOUND
        self._give(caller, value, out, out_size)
        return OK

    def _define_metric(self, caller: Any, kind: int, name: int, name_size: int,
                       out: int) -> int:
        self.metrics += 1
        self._put_u32(caller, self.metrics, out)
        return OK


def serialize_pairs(pairs: list[tuple[str, bytes]]) -> bytes:
    """proxy-wasm's header map serialization: count, sizes, then NUL-terminated strings."""
    parts = [struct.pack("<I", len(pairs))]
    parts += [struct.pack("<II", len(name), len(value)) for name, value in pairs]
    parts += [name.encode() + b"\0" + value + b"\0" for name, value in pairs]
    return b"".join(parts)


@dataclass
class Measure:
    """Per request: Wasm instructions (fuel) and host calls (total and by name)."""

    instructions: float
    host_calls: float
    by_call: dict[str, float] = field(default_factory=dict)
    by_callback: dict[str, float] = field(default_factory=dict)


REQUEST_CALLBACKS = ("proxy_on_request_headers", "proxy_on_response_headers",
                     "proxy_on_response_body", "proxy_on_log", "proxy_on_done")


class GuestVM:
    """One instance of a module under wasmtime with fuel, configured as Envoy would (root
    context 1, ``on_vm_start``, ``on_configure``), its host calls answered by ``host``."""

    def __init__(self, engine: wasmtime.Engine, module: wasmtime.Module,
                 host: StandInHost) -> None:
        self.host = host
        self.store = wasmtime.Store(engine)
        self.store.set_fuel(FUEL)
        linker = wasmtime.Linker(engine)
        _link(linker, module, host)
        exports = linker.instantiate(self.store, module).exports(self.store)
        host.memory = exports["memory"]  # type: ignore[assignment]
        host.allocate = exports["proxy_on_memory_allocate"]  # type: ignore[assignment]
        if "_initialize" in exports:
            exports["_initialize"](self.store)  # type: ignore[operator]
        self.call: dict[str, Any] = {name: exports[name] for name in (
            "proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure",
            "proxy_on_delete", *REQUEST_CALLBACKS) if name in exports}
        self.call["proxy_on_context_create"](self.store, 1, 0)
        self.call["proxy_on_vm_start"](self.store, 1, 0)
        if not self.call["proxy_on_configure"](self.store, 1, len(host.plugin_config)):
            raise SystemExit("the plugin configuration was refused")
        self.spent: Counter[str] = Counter()  # fuel by callback export

    def _run(self, name: str, *args: int) -> None:
        if name in self.call:
            fuel = self.store.get_fuel()
            self.call[name](self.store, *args)
            self.spent[name] += fuel - self.store.get_fuel()

    def request(self, context_id: int) -> None:
        """The callbacks of one GET that reaches the upstream (module's exports only)."""
        self.host.new_request()
        maps = self.host.maps
        self._run("proxy_on_context_create", context_id, 1)
        self._run("proxy_on_request_headers", context_id, len(maps[0]), 1)
        self._run("proxy_on_response_headers", context_id, len(maps[2]), 0)
        self._run("proxy_on_response_body", context_id, 2, 1)
        self._run("proxy_on_log", context_id)
        self._run("proxy_on_done", context_id)
        self._run("proxy_on_delete", context_id)


def fuel_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.consume_fuel = True
    return wasmtime.Engine(config)


def measure(module_path: Path, requests: int, host: StandInHost | None = None) -> Measure:
    """Fuel and host calls per request after 100 warm-up requests; ``host`` (default:
    plugin configuration ``b"x"``, the fixed header maps) answers the module's host calls."""
    host = host or StandInHost(b"x")
    engine = fuel_engine()
    vm = GuestVM(engine, wasmtime.Module.from_file(engine, str(module_path)), host)
    for warm in range(100):
        vm.request(2 + warm)
    host.calls.clear()
    vm.spent.clear()
    before = vm.store.get_fuel()
    for index in range(requests):
        vm.request(1000 + index)
    fuel = (before - vm.store.get_fuel()) / requests
    by_call = {name: count / requests for name, count in sorted(host.calls.items())}
    by_callback = {name[len("proxy_on_"):]: value / requests for name, value in vm.spent.items()}
    return Measure(fuel, sum(by_call.values()), by_call, by_callback)


def _link(linker: wasmtime.Linker, module: wasmtime.Module, host: StandInHost) -> None:
    """Bind every import: the host's own functions, else a stub answering 0 (Ok)."""
    special = host.functions()
    for item in module.imports:
        assert isinstance(item.type, wasmtime.FuncType)
        name = item.name or ""
        results = len(item.type.results)
        implementation = special.get(name)

        def counted(caller: Any, *args: Any, _name: str = name, _impl: Any = implementation,
                    _n: int = results, _env: bool = item.module == "env") -> Any:
            if _env:
                host.calls[_name] += 1
            if _impl is not None:
                return _impl(caller, *args)
            return 0 if _n else None

        linker.define_func(item.module, name, item.type, counted, access_caller=True)


def instructions_per_request(module_path: Path, requests: int,
                             host: StandInHost | None = None) -> float:
    """Fuel per request (see ``measure``)."""
    return measure(module_path, requests, host).instructions


# -- the scenarios ------------------------------------------------------------------------------
HS256_SECRET = b"meshwasm-bench-secret-0123456789abcdef"
ISSUER = "https://issuer.example"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hs256_token(claims: dict[str, Any], secret: bytes = HS256_SECRET, kid: str = "hs1") -> str:
    header = _b64url(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
    payload = _b64url(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


RATE_LIMIT_CONFIG = {
    "stat_prefix": "bench",
    "limits": [{"name": "per_user", "key": {"header": "x-user"},
                "token_bucket": {"max_tokens": 1_000_000_000, "tokens_per_fill": 1_000_000_000,
                                 "fill_interval": "1s"}}],
}
FAULT_CONFIG = {
    "abort": {"header_abort": {}, "percentage": {"numerator": 100, "denominator": "HUNDRED"}},
    "delay": {"header_delay": {}, "percentage": {"numerator": 100, "denominator": "HUNDRED"}},
}
JWT_CONFIG = {
    "providers": {"bench": {
        "issuer": ISSUER,
        "local_jwks": {"inline_string": json.dumps({"keys": [
            {"kty": "oct", "kid": "hs1", "k": _b64url(HS256_SECRET)}]})},
        "claim_to_headers": [{"header_name": "x-jwt-sub", "claim_name": "sub"}]}},
    "rules": [{"prefix": "/"}],
}


@dataclass
class Scenario:
    """A filter, its plugin configuration and the request it gets."""

    filter: Path
    config: bytes
    request_headers: dict[str, bytes] = field(default_factory=dict)
    vary: Callable[[int], dict[str, bytes]] | None = None  # headers new with each request

    def host(self) -> StandInHost:
        return StandInHost(self.config, {**REQUEST, **self.request_headers}, vary=self.vary)


def jwt_token(jti: str | None = None) -> str:
    # exp far ahead of the stand-in clock (and of real time, for Envoy runs)
    claims: dict[str, Any] = {"iss": ISSUER, "sub": "bench", "exp": 4_000_000_000}
    return hs256_token(claims if jti is None else {**claims, "jti": jti})


def fresh_jwt(request: int) -> dict[str, bytes]:
    """A token never seen before: the filter parses and verifies it (then caches it)."""
    return {"authorization": f"Bearer {jwt_token(str(request))}".encode()}


SCENARIOS: dict[str, Scenario] = {
    "hello": Scenario(PROJECT / "examples" / "hello" / "filter.py", b"x"),
    "rate_limit": Scenario(PROJECT / "filters" / "rate_limit" / "filter.py",
                           json.dumps(RATE_LIMIT_CONFIG).encode(), {"x-user": b"alice"}),
    "fault": Scenario(PROJECT / "filters" / "fault" / "filter.py",
                      json.dumps(FAULT_CONFIG).encode()),
    "jwt_authn": Scenario(PROJECT / "filters" / "jwt_authn" / "filter.py",
                          json.dumps(JWT_CONFIG).encode(),
                          {"authorization": f"Bearer {jwt_token()}".encode()}),
    "jwt_authn_fresh": Scenario(PROJECT / "filters" / "jwt_authn" / "filter.py",
                                json.dumps(JWT_CONFIG).encode(), vary=fresh_jwt),
}


def _row(label: str, result: Measure, c_filter: Measure | None, calls: bool) -> str:
    ratio = f"  ({result.instructions / c_filter.instructions:.0f}x C)" if c_filter else ""
    line = (f"  {label:12} {result.instructions:10.0f} instr  {result.host_calls:5.1f} host calls"
            f"{ratio}")
    if calls:
        line += "\n      " + ", ".join(f"{name} {fuel:.0f}"
                                     for name, fuel in result.by_callback.items() if fuel)
        line += "\n" + "\n".join(f"      {name:40} {count:5.2f}"
                                 for name, count in result.by_call.items())
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                        help="repeatable; default: all")
    parser.add_argument("--filter", type=Path, help="another filter (plugin configuration 'x')")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--calls", action="store_true",
                        help="instructions by callback and host calls by name")
    args = parser.parse_args()
    scenarios = {name: SCENARIOS[name] for name in args.scenario or SCENARIOS}
    if args.filter:
        scenarios = {args.filter.stem: Scenario(args.filter, b"x")}
    print(f"per request (wasmtime fuel and stand-in host, {args.requests} requests):")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        c_module = compile_raw_c_filter(PROJECT / "runtime_tests" / "other_sdk" / "hello_c.c",
                                        work / "hello_c.wasm")
        c_cost = measure(c_module, args.requests)
        print(_row("C filter", c_cost, None, args.calls))
        for name, scenario in scenarios.items():
            module = build_filter(scenario.filter, work / f"{name}.wasm").output
            print(_row(name, measure(module, args.requests, scenario.host()), c_cost, args.calls))
    return 0


if __name__ == "__main__":
    sys.exit(main())

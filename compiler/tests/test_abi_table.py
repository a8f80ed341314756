"""The ABI table (meshwasm.abi_table) against everything that cannot import it: the C glue,
the SDK's enums and dispatcher, the harness's and source mode's host-call layers.

Each test fails naming what disagrees, so adding a host function or a callback is one table
entry plus its behaviour, and a forgotten half shows up here.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import proxy_wasm
from meshwasm import abi_table
from meshwasm.harness import abi
from meshwasm.harness.host import Host
from meshwasm.harness.source_host import SourceHostCalls
from meshwasm.harness.wasm import proxy_imports
from meshwasm.harness.wasm.envoy_interface import CALLBACKS
from proxy_wasm import _dispatch, host_protocol, types

GLUE = Path(abi_table.__file__).parent / "builder" / "glue"

_DECLARATION = re.compile(
    r"PROXY_IMPORT\((\w+)\)\s*proxy_status_t\s+(\w+)\s*\(([^)]*)\)\s*;", re.S)
_EXPORT = re.compile(r"EXPORT\((proxy_on_\w+)\)\s*(\w+)\s+\1\s*\(([^)]*)\)")
_EXPORT_MACRO = re.compile(r"^(STREAM_CALLBACK3|STREAM_CALLBACK2|GRPC_CALLBACK)\((proxy_on_\w+),",
                           re.M)
#: what the exports.c macros that define callbacks expand to
_MACRO_SIGNATURES = {"STREAM_CALLBACK3": "iii>i", "STREAM_CALLBACK2": "ii>i",
                     "GRPC_CALLBACK": "iii>"}
_C_METHOD = re.compile(r'^\s*\{"(\w+)",', re.M)


def _c_param_type(param: str) -> str:
    """``"const char *key"`` -> ``"const char *"``; ``"uint32_t level"`` -> ``"uint32_t"``."""
    param = " ".join(param.split())
    name = re.search(r"\w+$", param)
    assert name is not None, param
    kind = param[:name.start()].strip()
    stars = kind.count("*")
    base = kind.replace("*", "").strip()
    return f"{base} {'*' * stars}" if stars else base


def _header_declarations() -> dict[str, list[str]]:
    text = (GLUE / "proxy_abi.h").read_text()
    found = {}
    for import_name, function, params in _DECLARATION.findall(text):
        assert import_name == function, f"proxy_abi.h: PROXY_IMPORT({import_name}) names {function}"
        found[function] = [] if params.strip() in ("", "void") else \
            [_c_param_type(param) for param in params.split(",")]
    return found


def test_the_glue_declares_host_functions_as_the_table_says() -> None:
    declared = _header_declarations()
    assert declared, "no PROXY_IMPORT declaration parsed from proxy_abi.h"
    for name, types_ in declared.items():
        function = abi_table.HOST_BY_NAME.get(name)
        assert function is not None, f"proxy_abi.h declares {name}, which the ABI table lacks"
        wanted = [abi_table.C_TYPES[param.kind] for param in function.params]
        assert types_ == wanted, (f"proxy_abi.h declares {name}({', '.join(types_)}); the table "
                                  f"says:\n{abi_table.c_declaration(function)}")


def _glue_exports() -> dict[str, str]:
    text = (GLUE / "exports.c").read_text()
    exports = {}
    for name, result, params in _EXPORT.findall(text):
        count = 0 if params.strip() in ("", "void") else len(params.split(","))
        exports[name] = "i" * count + ">" + ("" if result == "void" else "i")
    for macro, name in _EXPORT_MACRO.findall(text):
        exports[name] = _MACRO_SIGNATURES[macro]
    exports.pop("proxy_on_memory_allocate", None)  # the allocator, not a callback
    return exports


def test_the_glue_exports_every_callback_with_the_table_signature() -> None:
    assert _glue_exports() == abi_table.callback_signatures()


def test_the_glue_routes_every_callback_to_a_dispatcher_of_the_same_arity() -> None:
    text = (GLUE / "exports.c").read_text()
    names = re.search(r"callback_names\[CB_COUNT\] = \{(.*?)\};", text, re.S)
    assert names is not None
    routed = set(re.findall(r'"(\w+)"', names.group(1))) - {"start_runtime"}
    assert routed == {callback.dispatcher for callback in abi_table.CALLBACKS}
    for callback in abi_table.CALLBACKS:
        function = getattr(_dispatch, callback.dispatcher, None)
        assert callable(function), f"proxy_wasm._dispatch has no {callback.dispatcher}"
        assert len(inspect.signature(function).parameters) == len(callback.params), \
            f"_dispatch.{callback.dispatcher} does not take {callback.params}"


def test_the_glue_statuses_are_the_table_statuses() -> None:
    text = (GLUE / "proxy_abi.h").read_text()
    found = {name: int(value) for name, value in re.findall(r"PROXY_(\w+) = (\d+)", text)
             if not name.startswith("LOG_")}
    assert found == {name: number for number, name in enumerate(abi_table.STATUSES)}
    # the log levels: an enum counting from PROXY_LOG_TRACE = 0
    assert "PROXY_LOG_TRACE = 0" in text
    assert tuple(re.findall(r"PROXY_LOG_(\w+)", text)[:6]) == abi_table.ENUMS["LogLevel"]


@pytest.mark.parametrize("enum", sorted(set(abi_table.ENUMS) - {"MetricType"}) + ["Status"])
def test_the_sdk_enums_are_the_table_enums(enum: str) -> None:
    members = abi_table.STATUSES if enum == "Status" else abi_table.ENUMS[enum]
    sdk_enum = getattr(types, enum)
    assert [(member.name, int(member)) for member in sdk_enum] == \
        [(name, number) for number, name in enumerate(members)]


def test_the_sdk_metric_kinds_are_the_table_metric_types() -> None:
    kinds = {cls.KIND for cls in (proxy_wasm.metrics.Counter, proxy_wasm.metrics.Gauge,
                                  proxy_wasm.metrics.Histogram)}
    assert kinds == set(range(len(abi_table.ENUMS["MetricType"])))
    assert proxy_wasm.metrics.Histogram.KIND == abi.METRIC_HISTOGRAM


def test_the_harness_binds_every_import_with_the_table_arity() -> None:
    functions = proxy_imports.proxy_functions(Host(b""), memory := _NoMemory())  # type: ignore[arg-type]
    del memory
    assert set(functions) == set(abi_table.HOST_BY_NAME)
    for name, implementation in functions.items():
        if implementation is proxy_imports._unimplemented:
            continue
        expected = len(abi_table.HOST_BY_NAME[name].params)
        assert len(inspect.signature(implementation).parameters) == expected, name


def test_the_harness_calls_every_table_callback() -> None:
    assert CALLBACKS == abi_table.callback_signatures()
    assert proxy_imports.SIGNATURES == abi_table.host_signatures()


def _protocol_methods() -> set[str]:
    return {name for name, _ in inspect.getmembers(host_protocol.HostCalls, inspect.isfunction)
            if not name.startswith("_")}


def test_every_sdk_host_call_exists_in_the_c_module_and_in_source_mode() -> None:
    c_methods = set(_C_METHOD.findall((GLUE / "abi_module.c").read_text()))
    protocol = _protocol_methods()
    assert protocol - c_methods == set(), "host calls the C module _proxy_wasm_abi lacks"
    assert {name for name in protocol if not hasattr(SourceHostCalls, name)} == set(), \
        "host calls source mode (harness/source_host.py) lacks"


class _NoMemory:
    """Enough of GuestMemory for proxy_functions to bind (nothing is called)."""

    read = set_u32 = set_u64 = copy_out = staticmethod(lambda *args: None)

"""The wasmtime engine: linking as Envoy does, lifecycle order, traps, host-call plumbing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.wat import LOG_IMPORT, Wat, write
from meshwasm.harness import CompiledPlugin, ModuleError, replay_module
from meshwasm.harness.host import HostOptions
from meshwasm.replay.model import (
    Exchange, Expectation, HttpRequest, Traffic, UpstreamResponse,
)


def _exchange(path: str = "/", body: bytes = b"", upstream_body: bytes = b"ok") -> Exchange:
    return Exchange("x", HttpRequest(path=path, body=body),
                    UpstreamResponse(200, [], upstream_body), Expectation())


def _messages(lines: list) -> list[str]:
    return [line.message for line in lines]


def test_lifecycle_order_as_envoy(tmp_path: Path) -> None:
    w = Wat()
    wasm = w.module({name: w.say(name[len("proxy_on_"):]) for name in (
        "proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure",
        "proxy_on_request_headers", "proxy_on_request_body", "proxy_on_response_headers",
        "proxy_on_response_body", "proxy_on_log", "proxy_on_done", "proxy_on_delete")} | {
        "proxy_on_vm_start": w.say("vm_start") + "(i32.const 1) <value>",
        "proxy_on_configure": w.say("configure") + "(i32.const 1) <value>",
        "_initialize": w.say("_initialize"), "main": w.say("main"),
    })
    plugin = CompiledPlugin(write(tmp_path, wasm), b"")
    assert _messages(plugin.startup_logs) == [
        "_initialize", "main", "context_create", "vm_start", "configure"]
    verdict = plugin.run(_exchange(body=b"payload"))
    assert _messages(verdict.logs) == [
        "context_create", "request_headers", "request_body", "request_body",
        "response_headers", "response_body", "response_body", "log", "done", "delete"]
    assert verdict.status == 200 and verdict.upstream_request.body == b"payload"


def test_a_command_module_runs_start(tmp_path: Path) -> None:
    w = Wat()
    wasm = w.module({"_start": w.say("_start"), "main": w.say("main not called")})
    assert _messages(CompiledPlugin(write(tmp_path, wasm), b"").startup_logs) == ["_start"]


def test_unknown_import_fails_like_envoy(tmp_path: Path) -> None:
    wasm = Wat().module({}, imports=(
        '(import "env" "proxy_bogus" (func (param i32) (result i32)))',))
    with pytest.raises(ModuleError, match=r"imports env\.proxy_bogus, which Envoy does not"):
        CompiledPlugin(write(tmp_path, wasm), b"")


def test_mistyped_import_names_both_types(tmp_path: Path) -> None:
    wasm = Wat().module({}, imports=(
        '(import "env" "proxy_log" (func (param i32 i32) (result i32)))',))
    with pytest.raises(ModuleError) as caught:
        CompiledPlugin(write(tmp_path, wasm), b"")
    assert "env.proxy_log with type (i32, i32) -> (i32)" in str(caught.value)
    assert "Envoy provides (i32, i32, i32) -> (i32)" in str(caught.value)


def test_wasi_path_link_has_envoys_signature(tmp_path: Path) -> None:
    spec_path_link = ('(import "wasi_snapshot_preview1" "path_link" '
                      '(func (param i32 i32 i32 i32 i32 i32 i32) (result i32)))')
    with pytest.raises(ModuleError, match="wasi_snapshot_preview1.path_link"):
        CompiledPlugin(write(tmp_path, Wat().module({}, imports=(spec_path_link,))), b"")


def test_an_export_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    wasm = Wat().module({}, extra='(func (export "proxy_on_request_headers") (param i32 i32) '
                                  '(result i32) (i32.const 0))')
    with pytest.raises(ModuleError, match=r"exports proxy_on_request_headers with type "
                                          r"\(i32, i32\) -> \(i32\)"):
        CompiledPlugin(write(tmp_path, wasm), b"")


def test_module_without_abi_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModuleError, match="ABI version"):
        CompiledPlugin(write(tmp_path, Wat().module({}, abi="")), b"")
    with pytest.raises(ModuleError, match="no such module file"):
        CompiledPlugin(tmp_path / "absent.wasm", b"")
    (tmp_path / "junk.wasm").write_bytes(b"not wasm")
    with pytest.raises(ModuleError, match="not a valid Wasm module"):
        CompiledPlugin(tmp_path / "junk.wasm", b"")


def test_configure_returning_false_is_refused_with_the_log(tmp_path: Path) -> None:
    w = Wat()
    wasm = w.module({"proxy_on_configure": w.say("bad config") + "(i32.const 0) <value>"})
    with pytest.raises(ModuleError) as caught:
        CompiledPlugin(write(tmp_path, wasm), b"")
    assert "proxy_on_configure returned false" in str(caught.value)
    assert "[info] bad config" in str(caught.value)


def test_a_trap_fails_the_stream_and_the_vm(tmp_path: Path) -> None:
    w = Wat()
    wasm = w.module({"proxy_on_request_headers": w.say("before") + "unreachable",
                     "proxy_on_log": w.say("log")})
    traffic = Traffic(Path("t"), b"", [_exchange(), _exchange()])
    trapped, after = replay_module(write(tmp_path, wasm), traffic)
    assert (trapped.status, trapped.body, trapped.upstream_request) == (503, b"", None)
    assert _messages(trapped.logs) == ["before"]  # no on_log after a failure
    assert "Function: proxy_on_request_headers failed" in trapped.notes[0]
    assert "unreachable" in trapped.notes[0]
    assert (after.status, after.logs) == (503, [])
    open_after = replay_module(write(tmp_path, wasm), traffic, failure_policy="FAIL_OPEN")[1]
    assert open_after.status == 200 and open_after.upstream_request is not None


def test_stdout_and_stderr_become_log_lines(tmp_path: Path) -> None:
    w = Wat()
    out_ptr, out_len = w.string("to stdout\n")
    err_ptr, err_len = w.string("to stderr")
    iov = w.string(out_ptr.to_bytes(4, "little") + out_len.to_bytes(4, "little")
                   + err_ptr.to_bytes(4, "little") + err_len.to_bytes(4, "little"))[0]
    write_import = ('(import "wasi_snapshot_preview1" "fd_write" '
                    '(func $fd_write (param i32 i32 i32 i32) (result i32)))')
    code = (f"(drop (call $fd_write (i32.const 1) (i32.const {iov}) (i32.const 1) "
            f"(i32.const 512)))"
            f"(drop (call $fd_write (i32.const 2) (i32.const {iov + 8}) (i32.const 1) "
            f"(i32.const 512)))")
    wasm = w.module({"proxy_on_request_headers": code}, imports=(LOG_IMPORT, write_import))
    [verdict] = replay_module(write(tmp_path, wasm), Traffic(Path("t"), b"", [_exchange()]))
    assert [(line.level, line.message) for line in verdict.logs] == [
        ("info", "to stdout"), ("error", "to stderr")]


def test_status_codes_of_host_calls(tmp_path: Path) -> None:
    """Out-of-bounds pointers answer InvalidMemoryAccess (6); an http_call to a cluster
    Envoy does not know, BadArgument (2)."""
    w = Wat()
    http_call = ('(import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 '
                 'i32 i32 i32 i32 i32) (result i32)))')
    code = (
        "(if (i32.eq (call $log (i32.const 2) (i32.const 0x7fffff00) (i32.const 4096)) "
        f"(i32.const 6)) (then {w.say('bad memory is status 6')}))"
        "(if (i32.eq (call $http_call (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) "
        "(i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)) "
        f"(i32.const 2)) (then {w.say('unknown cluster is status 2')}))")
    wasm = w.module({"proxy_on_request_headers": code}, imports=(LOG_IMPORT, http_call))
    [verdict] = replay_module(write(tmp_path, wasm), Traffic(Path("t"), b"", [_exchange()]))
    assert _messages(verdict.logs) == ["bad memory is status 6", "unknown cluster is status 2"]


def test_a_bug_in_a_host_function_surfaces_as_itself(tmp_path: Path) -> None:
    now_import = ('(import "env" "proxy_get_current_time_nanoseconds" '
                  '(func $now (param i32) (result i32)))')
    wasm = Wat().module({"proxy_on_request_headers": "(drop (call $now (i32.const 64)))"},
                        imports=(now_import,))

    def broken_clock() -> int:
        raise ZeroDivisionError("clock broke")

    plugin = CompiledPlugin(write(tmp_path, wasm), b"", HostOptions(clock_ns=broken_clock))
    with pytest.raises(ZeroDivisionError, match="clock broke"):
        plugin.run(_exchange())


def test_log_level_filters_and_is_reported(tmp_path: Path) -> None:
    w = Wat()
    level_import = '(import "env" "proxy_get_log_level" (func $level (param i32) (result i32)))'
    code = (w.say("debug line", level=1) + w.say("info line", level=2)
            + "(drop (call $level (i32.const 64)))"
            + f"(if (i32.eq (i32.load (i32.const 64)) (i32.const 1)) (then {w.say('at debug')}))")
    wasm = w.module({"proxy_on_request_headers": code}, imports=(LOG_IMPORT, level_import))
    traffic = Traffic(Path("t"), b"", [_exchange()])
    [at_info] = replay_module(write(tmp_path, wasm), traffic)
    assert _messages(at_info.logs) == ["info line"]
    [at_debug] = replay_module(write(tmp_path, wasm), traffic, log_level="debug")
    assert _messages(at_debug.logs) == ["debug line", "info line", "at debug"]


def test_duplicate_imports_are_linked_once_and_each_is_type_checked(tmp_path: Path) -> None:
    fd_write = ('(import "wasi_snapshot_preview1" "fd_write" '
                '(func (param i32 i32 i32 i32) (result i32)))')
    w = Wat()
    wasm = w.module({"proxy_on_vm_start": w.say("started") + "(i32.const 1) <value>",
                     "proxy_on_configure": "(i32.const 1) <value>"},
                    imports=(LOG_IMPORT, fd_write, fd_write, LOG_IMPORT.replace("$log", "$log2")))
    assert _messages(CompiledPlugin(write(tmp_path, wasm), b"").startup_logs) == ["started"]
    mistyped_twin = ('(import "wasi_snapshot_preview1" "fd_write" '
                     '(func (param i32 i32 i32) (result i32)))')
    wasm = Wat().module({}, imports=(fd_write, mistyped_twin))
    with pytest.raises(ModuleError, match=r"imports wasi_snapshot_preview1\.fd_write with type "
                                          r"\(i32, i32, i32\) -> \(i32\)"):
        CompiledPlugin(write(tmp_path, wasm), b"")


def test_every_reason_envoy_would_refuse_is_named_at_once(tmp_path: Path) -> None:
    wasm = Wat().module({}, imports=(
        '(import "env" "proxy_redis_init" (func (param i32 i32 i32 i32 i32) (result i32)))',
        '(import "env" "proxy_log" (func (param i32) (result i32)))'),
        extra='(func (export "proxy_on_done") (param i32) (result i64) (i64.const 0))')
    with pytest.raises(ModuleError) as caught:
        CompiledPlugin(write(tmp_path, wasm), b"")
    lines = str(caught.value).splitlines()
    assert lines[0].endswith("Envoy would refuse this module:")
    assert len(lines) == 4
    assert "env.proxy_redis_init, which Envoy does not provide" in lines[1]
    assert "env.proxy_log with type (i32) -> (i32)" in lines[2]
    assert "exports proxy_on_done with type (i32) -> (i64)" in lines[3]

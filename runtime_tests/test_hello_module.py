"""examples/hello compiled for real: the module's shape, reproducible builds, build errors,
and the same traffic giving the same verdicts in the harness and in a real Envoy."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from meshwasm.builder.errors import BuildError
from meshwasm.builder.pipeline import build_filter
from meshwasm.builder.stamp import read_stamp
from meshwasm.deploy.envoy.replay import replay_in_envoy
from meshwasm.harness import replay_module
from meshwasm.replay.expect import evaluate
from meshwasm.replay.traffic import load_traffic

from .conftest import PROJECT

HELLO = PROJECT / "examples" / "hello"
REQUIRED_EXPORTS = {
    "memory", "proxy_abi_version_0_2_1", "proxy_on_memory_allocate", "proxy_on_context_create",
    "proxy_on_vm_start", "proxy_on_configure", "proxy_on_request_headers",
    "proxy_on_response_headers", "proxy_on_delete",
}
# hello overrides neither: Envoy then does not call into the VM for them (builder/callbacks.py)
UNUSED_CALLBACKS = {"proxy_on_request_body", "proxy_on_request_trailers", "proxy_on_response_body",
                    "proxy_on_response_trailers", "proxy_on_log", "proxy_on_done"}


@pytest.fixture(scope="module")
def hello_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hello") / "hello.wasm"
    build_filter(HELLO / "filter.py", out)
    return out


def test_module_imports_only_what_envoy_provides_soundly(hello_wasm: Path) -> None:
    module = wasmtime.Module.from_file(wasmtime.Engine(), str(hello_wasm))
    imports = {(item.module, item.name) for item in module.imports}
    assert all(name.startswith("proxy_") for mod, name in imports if mod == "env")
    assert {mod for mod, _ in imports} <= {"env", "wasi_snapshot_preview1"}
    assert {name for mod, name in imports if mod == "wasi_snapshot_preview1"} == {"random_get"}
    exports = {item.name for item in module.exports}
    assert REQUIRED_EXPORTS <= exports
    assert not exports & UNUSED_CALLBACKS
    # Start-up already ran at build time: no host may run it again.
    assert not exports & {"_initialize", "_start", "meshwasm_initialize", "meshwasm_skip_mask"}


def test_module_records_what_it_was_built_from(hello_wasm: Path) -> None:
    stamp = read_stamp(hello_wasm.read_bytes())
    assert stamp is not None
    assert stamp["filter"] == "filter"
    assert "proxy_wasm._dispatch" in stamp["modules"]  # type: ignore[operator]


def test_same_inputs_give_identical_bytes(hello_wasm: Path, tmp_path: Path) -> None:
    again = build_filter(HELLO / "filter.py", tmp_path / "again.wasm", use_cache=False)
    assert not again.cached
    assert again.output.read_bytes() == hello_wasm.read_bytes()


def test_filter_raising_at_import_fails_the_build_with_its_line(tmp_path: Path) -> None:
    source = tmp_path / "broken.py"
    source.write_text("from proxy_wasm import HttpContext, register\n"
                      "class F(HttpContext):\n    pass\nregister(F)\n"
                      "LIMIT = int('ten')\n")
    output = tmp_path / "broken.wasm"
    with pytest.raises(BuildError) as caught:
        build_filter(source, output, use_cache=False)
    assert 'File "broken.py", line 5' in str(caught.value)
    assert "ValueError" in str(caught.value)
    assert not output.exists()
    assert list(tmp_path.iterdir()) == [source]  # nothing half-written beside it


def test_hello_traffic_passes_in_the_harness(hello_wasm: Path) -> None:
    traffic = load_traffic(HELLO / "traffic.yaml")
    outcomes = evaluate(traffic, replay_module(hello_wasm, traffic))
    assert [o.mismatches for o in outcomes] == [[] for _ in outcomes]


def test_an_edited_expectation_fails(hello_wasm: Path, tmp_path: Path) -> None:
    edited = tmp_path / "traffic.yaml"
    edited.write_text((HELLO / "traffic.yaml").read_text().replace("x-hello: world", "x-hello: mars", 1))
    traffic = load_traffic(edited)
    outcomes = evaluate(traffic, replay_module(hello_wasm, traffic))
    failing = [o for o in outcomes if o.mismatches]
    assert len(failing) == 1
    assert "mars" in str(failing[0].mismatches) and "world" in str(failing[0].mismatches)


@pytest.mark.envoy
def test_envoy_gives_the_same_verdicts_as_the_harness(hello_wasm: Path) -> None:
    traffic = load_traffic(HELLO / "traffic.yaml")
    in_harness = replay_module(hello_wasm, traffic)
    in_envoy = replay_in_envoy(hello_wasm, traffic)
    assert [o.mismatches for o in evaluate(traffic, in_envoy)] == [[] for _ in in_envoy]
    for harness, envoy in zip(in_harness, in_envoy):
        assert envoy.status == harness.status
        assert envoy.body == harness.body
        assert (envoy.upstream_request is None) == (harness.upstream_request is None)
        # Every header the filter or upstream set agrees; Envoy adds date/server on the wire.
        for name, value in harness.headers:
            if name not in ("date", "server", "x-envoy-upstream-service-time"):
                assert envoy.header(name) == value, name
        assert [line.message for line in envoy.logs] == [line.message for line in harness.logs]


def test_host_calls_while_imported_at_build_time_fail_the_build_clearly(tmp_path: Path) -> None:
    source = tmp_path / "early.py"
    source.write_text("from proxy_wasm import HttpContext, metrics, register\n"
                      "REQUESTS = metrics.Counter('requests')\n"
                      "class F(HttpContext):\n    pass\nregister(F)\n")
    with pytest.raises(BuildError) as caught:
        build_filter(source, tmp_path / "early.wasm", use_cache=False)
    message = str(caught.value)
    assert 'File "early.py", line 2' in message
    assert "proxy_define_metric" in message and "on_configure" in message


def _function_names(module: bytes) -> dict[int, str]:
    from meshwasm.builder import wasmbin
    section = next(s for s in wasmbin.parse_sections(module)
                   if wasmbin.custom_section_name(s) == "name")
    reader = wasmbin.Reader(section.payload)
    reader.name()
    assert reader.byte() == 1  # function names
    reader.u32()
    return {reader.u32(): reader.name() for _ in range(reader.u32())}


def test_names_opt_in_names_every_function_by_its_symbol(hello_wasm: Path,
                                                         tmp_path: Path) -> None:
    from meshwasm.builder import wasmbin
    named = build_filter(HELLO / "filter.py", tmp_path / "named.wasm", names=True).output
    data = named.read_bytes()
    names = _function_names(data)
    exports = {e.name: e.index for e in wasmbin.parse_exports(next(
        s for s in wasmbin.parse_sections(data) if s.id == wasmbin.SECTION_EXPORT).payload)}
    for export in ("proxy_on_request_headers", "proxy_on_context_create", "proxy_on_delete"):
        assert names[exports[export]] == export
    assert "_PyEval_EvalFrameDefault" in names.values()
    assert "env.proxy_log" in names.values()  # imports too
    assert b"\x04name" not in hello_wasm.read_bytes()  # only when asked for
    # the same module otherwise: same code, and it serves hello's traffic
    traffic = load_traffic(HELLO / "traffic.yaml")
    outcomes = evaluate(traffic, replay_module(named, traffic))
    assert [o.mismatches for o in outcomes] == [[] for _ in outcomes]

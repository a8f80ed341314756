"""The harness runs a module another SDK built (the raw-ABI C filter) as Envoy would,
through ``replay_module`` and through ``meshwasm replay``."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from meshwasm.cli import main
from meshwasm.harness import CompiledPlugin, replay_module
from meshwasm.replay.expect import evaluate
from meshwasm.replay.traffic import load_traffic

TRAFFIC = Path(__file__).resolve().parent / "other_sdk" / "hello_c.traffic.yaml"


def test_replay_module_gives_what_envoy_gives(c_filter_wasm: Path) -> None:
    traffic = load_traffic(TRAFFIC)
    allowed, denied = replay_module(c_filter_wasm, traffic)

    assert allowed.status == 200 and allowed.body == b"hello from upstream"
    assert allowed.header("x-c-filter") == "on"
    assert allowed.header("x-c-config") == "c-config-value"
    assert [(line.level, line.message) for line in allowed.logs] == [
        ("info", "c filter saw /hello")]
    assert allowed.upstream_request is not None
    assert allowed.upstream_request.path == "/hello"
    assert ("x-user", "alice") in allowed.upstream_request.headers
    assert [name for name, _ in allowed.headers][-2:] == ["date", "server"]

    assert (denied.status, denied.body, denied.upstream_request) == (
        403, b"denied by c filter", None)
    # the local reply goes through the filter's own on_response_headers, as in Envoy
    assert denied.header("x-c-filter") == "on"
    assert denied.header("content-type") == "text/plain"
    assert all(outcome.ok for outcome in evaluate(traffic, [allowed, denied]))


def test_cli_passes_on_the_shipped_traffic(c_filter_wasm: Path) -> None:
    result = CliRunner().invoke(main, ["replay", str(c_filter_wasm), str(TRAFFIC)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("  ✓ #1 an allowed request")
    assert lines[1].startswith("  ✓ #2 the denied path")
    assert lines[-1] == "2 requests: 2 as expected, 0 not (engine: harness)"


def test_cli_fails_with_a_diff_when_an_expectation_is_edited(c_filter_wasm: Path,
                                                             tmp_path: Path) -> None:
    edited = tmp_path / "edited.traffic.yaml"
    text = TRAFFIC.read_text()
    assert 'x-c-filter: "on"' in text and "status: 403" in text
    edited.write_text(text.replace('x-c-filter: "on"', 'x-c-filter: "off"')
                      .replace("status: 403", "status: 401"))
    result = CliRunner().invoke(main, ["replay", str(c_filter_wasm), str(edited)])
    assert result.exit_code == 1, result.output
    out = result.output
    assert f"✗ #1 an allowed request reaches the upstream and gets the filter's headers  " \
           f"({edited}:4)" in out
    assert "header x-c-filter\n        - expected off\n        + actual   on" in out
    assert "status\n        - expected 401\n        + actual   403" in out
    assert out.splitlines()[-1] == "2 requests: 0 as expected, 2 not (engine: harness)"


def test_cli_exit_2_on_bad_input(c_filter_wasm: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("requests:\n  - name: typo\n    expect:\n      statsu: 200\n")
    result = CliRunner().invoke(main, ["replay", str(c_filter_wasm), str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:4: request #1 ('typo'): expect.statsu: unknown field" in result.output
    assert "Traceback" not in result.output

    not_wasm = tmp_path / "x.wasm"
    not_wasm.write_bytes(b"\0asm-but-not-really")
    result = CliRunner().invoke(main, ["replay", str(not_wasm), str(TRAFFIC)])
    assert result.exit_code == 2
    assert "not a valid Wasm module" in result.output and "Traceback" not in result.output


def test_one_vm_serves_many_requests_alike(c_filter_wasm: Path) -> None:
    """A long run in one VM: every verdict as the first ones (no state leaks between
    requests).  How fast that goes is measured in bench/harness_throughput.py."""
    traffic = load_traffic(TRAFFIC)
    plugin = CompiledPlugin(c_filter_wasm, traffic.plugin_config)
    verdicts = [plugin.run(exchange) for exchange in traffic.exchanges * 500]
    assert [(v.status, v.body) for v in verdicts] == [
        (200, b"hello from upstream"), (403, b"denied by c filter")] * 500
    assert all(outcome.ok for outcome in evaluate(traffic, verdicts[-2:]))

"""``meshwasm envoy-config`` (Envoy accepts what it prints) and ``meshwasm run`` (serves the
filter, stops Envoy on Ctrl-C)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from meshwasm.cli import main
from meshwasm.deploy.envoy.process import find_envoy

from .processes import alive, stop_tree


def test_envoy_config_prints_a_bootstrap_envoy_validates(c_filter_wasm: Path,
                                                         tmp_path: Path) -> None:
    plugin_config = tmp_path / "config.txt"
    plugin_config.write_text("greetings")
    result = CliRunner().invoke(main, [
        "envoy-config", str(c_filter_wasm), "--plugin-config", str(plugin_config),
        "--fail-open", "--workers", "3", "--upstream", "backend.internal:8080", "--listen", "18080"])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.stdout)
    listener = config["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 18080}
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    wasm = hcm["http_filters"][0]["typed_config"]["config"]
    assert wasm["failure_policy"] == "FAIL_OPEN"
    assert wasm["configuration"]["value"] == "greetings"
    assert wasm["vm_config"]["code"]["local"]["filename"] == str(c_filter_wasm.resolve())
    cluster = config["static_resources"]["clusters"][0]
    assert cluster["type"] == "STRICT_DNS"
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "backend.internal",
                                                     "port_value": 8080}
    assert "--concurrency 3" in result.stdout
    path = tmp_path / "envoy.yaml"
    path.write_text(result.stdout)
    checked = subprocess.run([str(find_envoy()), "--mode", "validate", "-c", str(path)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK" in checked.stdout + checked.stderr


def test_envoy_config_fail_reload_is_a_failure_policy_envoy_accepts(c_filter_wasm: Path,
                                                                    tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["envoy-config", str(c_filter_wasm), "--fail-reload"])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.stdout)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    wasm = hcm["typed_config"]["http_filters"][0]["typed_config"]["config"]
    assert wasm["failure_policy"] == "FAIL_RELOAD"
    path = tmp_path / "envoy.yaml"
    path.write_text(result.stdout)
    checked = subprocess.run([str(find_envoy()), "--mode", "validate", "-c", str(path)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_envoy_config_names_a_bad_upstream(c_filter_wasm: Path) -> None:
    result = CliRunner().invoke(main, ["envoy-config", str(c_filter_wasm), "--upstream", "nope"])
    assert result.exit_code == 2 and "--upstream" in result.output and "HOST:PORT" in result.output


@pytest.mark.parametrize("content", [b"#!/bin/sh\n", b"\0asm\x01\0\0\0\x01\x05\x01\x60"],
                         ids=["not-wasm", "truncated-wasm"])
def test_envoy_config_refuses_a_file_that_is_not_a_module(tmp_path: Path,
                                                          content: bytes) -> None:
    bogus = tmp_path / "bogus.wasm"
    bogus.write_bytes(content)
    result = CliRunner().invoke(main, ["envoy-config", str(bogus)])
    assert result.exit_code == 2
    assert result.stdout == ""  # no configuration written
    assert "bogus.wasm: not a" in result.output and "WebAssembly module" in result.output


@pytest.mark.envoy
def test_run_serves_the_filter_and_ctrl_c_stops_envoy(c_filter_wasm: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "meshwasm", "run", str(c_filter_wasm), "--listen", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    envoy_pid = 0
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline() if ready else ""
        assert line.startswith("listening on http://127.0.0.1:"), line + (
            process.stderr.read() if process.stderr and process.poll() is not None else "")
        url = line.split()[2]
        envoy_pid = int(line.split("Envoy pid ")[1].split(")")[0])
        assert alive(envoy_pid)
        with urllib.request.urlopen(url + "allowed", timeout=10) as response:
            assert response.status == 200
            assert b'"path": "/allowed"' in response.read()  # the echo upstream answered
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=15)
        assert process.returncode == 0, err
        assert "stopped" in err
        deadline = time.monotonic() + 5
        while alive(envoy_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(envoy_pid), "Envoy outlived meshwasm run"
    finally:
        stop_tree(process)

"""Unit tests for the Envoy bootstrap generator (no Envoy process)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from meshwasm.deploy.envoy.config import (
    CLUSTER_NAME,
    LOOPBACK,
    WASM_FILTER,
    EnvoyOptions,
    bootstrap,
    plugin_configuration,
    write_bootstrap,
)


def _hcm(config: dict) -> dict:
    listener = config["static_resources"]["listeners"][0]
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def _addresses(node: object) -> list[dict]:
    """Every socket_address anywhere in the bootstrap."""
    found = []
    if isinstance(node, dict):
        if "socket_address" in node:
            found.append(node["socket_address"])
        for value in node.values():
            found.extend(_addresses(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_addresses(value))
    return found


def test_everything_binds_and_connects_on_loopback_only() -> None:
    config = bootstrap(EnvoyOptions(upstream_port=8081, module=Path("/m.wasm")))
    addresses = _addresses(config)
    assert len(addresses) == 3  # admin, listener, upstream endpoint
    assert {a["address"] for a in addresses} == {LOOPBACK}
    assert config["admin"]["address"]["socket_address"]["port_value"] == 0
    assert config["static_resources"]["listeners"][0]["address"]["socket_address"][
        "port_value"] == 0
    cluster = config["static_resources"]["clusters"][0]
    assert cluster["name"] == CLUSTER_NAME
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"]["port_value"] == 8081


def test_wasm_filter_comes_before_the_router(tmp_path: Path) -> None:
    module = tmp_path / "f.wasm"
    options = EnvoyOptions(upstream_port=1, module=module, plugin_config=b"cfg", vm_id="vm",
                           root_id="root")
    filters = _hcm(bootstrap(options))["http_filters"]
    assert [f["name"] for f in filters] == [WASM_FILTER, "envoy.filters.http.router"]
    wasm = filters[0]["typed_config"]["config"]
    assert wasm["root_id"] == "root"
    assert wasm["vm_config"] == {
        "vm_id": "vm",
        "runtime": "envoy.wasm.runtime.v8",
        "code": {"local": {"filename": str(module.resolve())}},
    }
    assert wasm["configuration"] == {
        "@type": "type.googleapis.com/google.protobuf.StringValue", "value": "cfg"}
    assert wasm["failure_policy"] == "FAIL_CLOSED"


@pytest.mark.parametrize("policy", ["FAIL_OPEN", "FAIL_RELOAD"])
def test_the_failure_policy_reaches_the_plugin(policy: str) -> None:
    options = EnvoyOptions(upstream_port=1, module=Path("m.wasm"), failure_policy=policy)
    wasm = _hcm(bootstrap(options))["http_filters"][0]["typed_config"]["config"]
    assert wasm["failure_policy"] == policy


def test_an_unknown_failure_policy_is_refused_naming_the_values() -> None:
    with pytest.raises(ValueError, match="FAIL_CLOSED, FAIL_OPEN, FAIL_RELOAD, got 'FAIL_CLOSE'"):
        EnvoyOptions(upstream_port=1, failure_policy="FAIL_CLOSE")


def test_without_module_only_the_router_runs() -> None:
    filters = _hcm(bootstrap(EnvoyOptions(upstream_port=1)))["http_filters"]
    assert [f["name"] for f in filters] == ["envoy.filters.http.router"]


def test_non_utf8_config_travels_as_bytes_value() -> None:
    raw = b"\xff\x00binary"
    any_ = plugin_configuration(raw)
    assert any_["@type"] == "type.googleapis.com/google.protobuf.BytesValue"
    assert base64.b64decode(any_["value"]) == raw
    assert plugin_configuration(b"")["value"] == ""
    assert plugin_configuration("é".encode())["value"] == "é"


@pytest.mark.parametrize("bad", [
    dict(upstream_port=0),
    dict(upstream_port=70000),
    dict(upstream_port=1, workers=0),
    dict(upstream_port=1, admin_port=-1),
    dict(upstream_port=1, vm_id="a:b"),
])
def test_options_are_validated(bad: dict) -> None:
    with pytest.raises(ValueError):
        EnvoyOptions(**bad)


def test_write_bootstrap_is_json(tmp_path: Path) -> None:
    options = EnvoyOptions(upstream_port=9, module=Path("m.wasm"), plugin_config=b"x")
    path = write_bootstrap(options, tmp_path / "envoy.json")
    assert json.loads(path.read_text()) == bootstrap(options)

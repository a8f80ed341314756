"""WasmPlugin manifests: generation, and offline validation against Istio's CRD with its CEL
rules — each broken manifest refused with the field path and the API server's message."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from meshwasm.cli import main
from meshwasm.deploy.istio.k8s_cel import parse_request_uri, rule_holds
from meshwasm.deploy.istio.wasmplugin import (CRD_PATH, PluginSpec, WasmPluginError, build_manifest,
                                        check_manifest, validate_manifest)

DIGEST = "0123456789abcdef" * 4
URL = f"oci://registry.example.com/filters/hello@sha256:{DIGEST}"


def valid() -> dict[str, Any]:
    return build_manifest(PluginSpec(
        name="hello", namespace="istio-system", url=URL, sha256=DIGEST,
        image_pull_policy="IfNotPresent", phase="AUTHN", priority=10, fail_strategy="FAIL_CLOSE",
        selector={"app": "web"}, match=[{"mode": "SERVER", "ports": [{"number": 8080}]}],
        plugin_config={"greeting": "hi", "limits": [1, 2]},
        env=[{"name": "GREETING", "value": "hi"}, {"name": "POD_NAME", "valueFrom": "HOST"}]))


def test_the_valid_manifest_passes() -> None:
    assert validate_manifest(valid()) == []
    check_manifest(valid())  # does not raise


def test_target_refs_instead_of_selector_pass() -> None:
    manifest = valid()
    del manifest["spec"]["selector"]
    manifest["spec"]["targetRefs"] = [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                       "name": "ingress"}]
    assert validate_manifest(manifest) == []


def _set(path: str, value: Any) -> Any:
    """A change to the valid manifest: set the dotted ``path`` (``None`` deletes it)."""
    def change(manifest: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = manifest
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is None:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return change


BROKEN = [
    ("ftp url", _set("spec.url", "ftp://registry.example.com/hello"),
     'spec.url: Invalid value: "string": url must have schema one of [http, https, file, oci]'),
    ("host:port without scheme", _set("spec.url", "registry:5000/hello"),
     "spec.url: Invalid value: \"string\": url must have schema one of"),
    ("short sha256", _set("spec.sha256", "abc123"),
     "spec.sha256: Invalid value: \"abc123\": spec.sha256 in body should match "
     "'(^$|^[a-f0-9]{64}$)'"),
    ("upper-case sha256", _set("spec.sha256", DIGEST.upper()), "spec.sha256 in body should match"),
    ("selector and targetRefs", _set("spec.targetRefs", [{"kind": "Gateway", "name": "gw"}]),
     'spec: Invalid value: "object": only one of targetRefs or selector can be set'),
    ("unknown phase", _set("spec.phase", "LATE"),
     'spec.phase: Unsupported value: "LATE": supported values: "UNSPECIFIED_PHASE", "AUTHN", '
     '"AUTHZ", "STATS"'),
    ("bad failStrategy", _set("spec.failStrategy", "FAIL_SOMETIMES"),
     'spec.failStrategy: Unsupported value: "FAIL_SOMETIMES": supported values: "FAIL_CLOSE", '
     '"FAIL_OPEN", "FAIL_RELOAD"'),
    ("priority as a string", _set("spec.priority", "high"),
     'spec.priority: Invalid value: "string": spec.priority in body must be of type integer: '
     '"string"'),
    ("priority past int32", _set("spec.priority", 2**31),
     "spec.priority: Invalid value: 2147483648: spec.priority in body should be less than or "
     "equal to 2147483647"),
    ("unknown field", _set("spec.colour", "blue"), 'unknown field "spec.colour"'),
    ("unknown top-level field", _set("extra", 1), 'unknown field "extra"'),
    ("missing url", _set("spec.url", None), "spec.url: Required value"),
    ("empty url", _set("spec.url", ""), "spec.url: Invalid value: \"\": spec.url in body should "
                                        "be at least 1 chars long"),
    ("bad pull policy", _set("spec.imagePullPolicy", "Never"),
     'spec.imagePullPolicy: Unsupported value: "Never"'),
    ("port out of range", _set("spec.match.0.ports.0.number", 70000),
     "spec.match[0].ports[0].number: Invalid value: 70000: spec.match[0].ports[0].number in body "
     "should be less than or equal to 65535"),
    ("wildcard label key", _set("spec.selector.matchLabels", {"app*": "web"}),
     'spec.selector.matchLabels: Invalid value: "object": wildcard not allowed in label key match'),
    ("wildcard label value", _set("spec.selector.matchLabels", {"app": "w*"}),
     'spec.selector.matchLabels[app]: Invalid value: "string": wildcard not allowed in label '
     "value match"),
    ("host env with a value", _set("spec.vmConfig.env.1.value", "x"),
     'spec.vmConfig.env[1]: Invalid value: "object": value may only be set when valueFrom is '
     "INLINE"),
    ("duplicate env name", _set("spec.vmConfig.env.1", {"name": "GREETING"}),
     'spec.vmConfig.env[1]: Duplicate value: {"name": "GREETING"}'),
    ("pluginConfig not an object", _set("spec.pluginConfig", ["a"]),
     'spec.pluginConfig: Invalid value: "array": spec.pluginConfig in body must be of type '
     'object: "array"'),
    ("wrong kind", _set("kind", "EnvoyFilter"), "kind: Unsupported value: 'EnvoyFilter'"),
    ("unserved version", _set("apiVersion", "extensions.istio.io/v1"),
     "apiVersion: Unsupported value: 'extensions.istio.io/v1'"),
    ("bad name", _set("metadata.name", "Hello_World"),
     'metadata.name: Invalid value: "Hello_World": a lowercase RFC 1123 subdomain'),
]


@pytest.mark.parametrize("change, message", [(c, m) for _, c, m in BROKEN],
                         ids=[name for name, _, _ in BROKEN])
def test_broken_manifests_fail_with_path_and_message(change: Any, message: str) -> None:
    manifest = copy.deepcopy(valid())
    change(manifest)
    errors = validate_manifest(manifest)
    assert any(error.startswith(message) or message in error for error in errors), errors
    with pytest.raises(WasmPluginError) as caught:
        check_manifest(manifest, "plugin.yaml")
    assert str(caught.value).startswith("plugin.yaml is invalid:")


def test_cross_namespace_target_ref_is_refused() -> None:
    manifest = valid()
    del manifest["spec"]["selector"]
    manifest["spec"]["targetRefs"] = [{"kind": "Service", "name": "web", "namespace": "other"}]
    assert validate_manifest(manifest) == [
        'spec.targetRefs[0].namespace: Invalid value: "string": cross namespace referencing is '
        "not currently supported"]


def test_the_crd_copy_names_its_source_and_has_cel_rules() -> None:
    text = CRD_PATH.read_text()
    assert "istio/api" in text and "b8f8791d9653" in text and "Apache" in text
    assert text.count("rule:") >= 6


@pytest.mark.parametrize("text, scheme", [
    ("oci://ghcr.io/a/b:1", "oci"), ("https://x.io/f.wasm", "https"), ("file:///f.wasm", "file"),
    ("/abs/path", ""), ("registry:5000/x", "registry"), ("HTTP://X", "http"),
])
def test_request_uri_parsing_like_go(text: str, scheme: str) -> None:
    parsed = parse_request_uri(text)
    assert parsed is not None and parsed.scheme == scheme


@pytest.mark.parametrize("text", ["relative/path", "http://host:port/x", "a b", "http://x/#f", ""])
def test_request_uri_rejections_like_go(text: str) -> None:
    assert parse_request_uri(text) is None


def test_cel_rule_errors_count_as_failures() -> None:
    assert rule_holds("self.size() == 0", "") == (True, None)
    holds, reason = rule_holds("self.size() == 0", 5)
    assert not holds and reason


# --- the command ---------------------------------------------------------------------------------

def test_command_writes_a_manifest_that_passes(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("greeting: hello\nlimit: 10\n")
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "required": ["greeting"],
                                  "properties": {"greeting": {"type": "string"},
                                                 "limit": {"type": "integer", "minimum": 1}},
                                  "additionalProperties": False}))
    out = tmp_path / "plugin.yaml"
    result = CliRunner().invoke(main, [
        "wasmplugin", "hello", "-n", "istio-system", "--url", URL, "--phase", "AUTHZ",
        "--priority", "3", "--fail-strategy", "FAIL_OPEN", "--image-pull-policy", "Always",
        "--target-ref", "Gateway/ingress", "--plugin-config", str(config),
        "--config-schema", str(schema), "--env", "MODE=strict", "--env-from-host", "POD_NAME",
        "--match-mode", "SERVER", "--match-port", "8080", "-o", str(out)])
    assert result.exit_code == 0, result.output
    manifest = yaml.safe_load(out.read_text())
    spec = manifest["spec"]
    assert spec["sha256"] == DIGEST  # from the pinned url: Istio checks the manifest digest
    assert spec["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                   "name": "ingress"}]
    assert spec["pluginConfig"] == {"greeting": "hello", "limit": 10}
    assert spec["vmConfig"]["env"] == [{"name": "MODE", "value": "strict"},
                                       {"name": "POD_NAME", "valueFrom": "HOST"}]
    assert spec["match"] == [{"mode": "SERVER", "ports": [{"number": 8080}]}]
    assert validate_manifest(manifest) == []
    checked = CliRunner().invoke(main, ["wasmplugin", "--check", str(out)])
    assert checked.exit_code == 0 and "valid" in checked.output


def test_command_refuses_config_the_schema_rejects(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("limit: 0\n")
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "required": ["greeting"],
                                  "properties": {"limit": {"type": "integer", "minimum": 1}}}))
    result = CliRunner().invoke(main, ["wasmplugin", "hello", "--url", URL, "--plugin-config",
                                       str(config), "--config-schema", str(schema)])
    assert result.exit_code == 1
    assert "spec.pluginConfig: 'greeting' is a required property" in result.output
    assert "spec.pluginConfig.limit: 0 is less than the minimum of 1" in result.output
    assert str(schema) in result.output


def test_command_refuses_an_invalid_manifest_and_a_conflicting_sha(tmp_path: Path) -> None:
    bad = CliRunner().invoke(main, ["wasmplugin", "hello", "--url", "ftp://x/y"])
    assert bad.exit_code == 1 and "spec.url: Invalid value" in bad.output
    conflict = CliRunner().invoke(main, ["wasmplugin", "hello", "--url", URL, "--sha256", "f" * 64])
    assert conflict.exit_code == 1 and "differs from the digest the url is pinned to" in \
        conflict.output


def test_http_url_gets_the_module_sha256(tmp_path: Path) -> None:
    module = tmp_path / "m.wasm"
    module.write_bytes(b"\0asm\x01\0\0\0")
    result = CliRunner().invoke(main, ["wasmplugin", "hello", "--url", "https://x.io/m.wasm",
                                       "--module", str(module)])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["spec"]["sha256"] == \
        hashlib.sha256(b"\0asm\x01\0\0\0").hexdigest()


def test_check_names_the_file_and_document(tmp_path: Path) -> None:
    manifest = valid()
    manifest["spec"]["phase"] = "LATE"
    path = tmp_path / "plugins.yaml"
    path.write_text(yaml.safe_dump_all([valid(), manifest]))
    result = CliRunner().invoke(main, ["wasmplugin", "--check", str(path)])
    assert result.exit_code == 1
    assert f"{path} (document 2) is invalid" in result.output
    assert 'spec.phase: Unsupported value: "LATE"' in result.output


@pytest.mark.parametrize("option", ["--plugin-config", "--config-schema", "--check"])
def test_deeply_nested_input_is_named_not_a_traceback(tmp_path: Path, option: str) -> None:
    nested = tmp_path / "nested.json"
    nested.write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    arguments = {
        "--check": ["wasmplugin", "--check", str(nested)],
        "--plugin-config": ["wasmplugin", "hello", "--url", URL, option, str(nested)],
        "--config-schema": ["wasmplugin", "hello", "--url", URL, "--plugin-config", str(plain),
                            option, str(nested)],
    }[option]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1
    assert f"{nested}: nested too deeply to read" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_fail_reload_is_a_fail_strategy_the_crd_accepts(tmp_path: Path) -> None:
    out = tmp_path / "plugin.yaml"
    result = CliRunner().invoke(main, ["wasmplugin", "hello", "--url", URL,
                                       "--fail-strategy", "FAIL_RELOAD", "-o", str(out)])
    assert result.exit_code == 0, result.output
    manifest = yaml.safe_load(out.read_text())
    assert manifest["spec"]["failStrategy"] == "FAIL_RELOAD"
    assert validate_manifest(manifest) == []

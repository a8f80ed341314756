"""One rule for the plugin configuration (``meshwasm.plugin_config``), the same through every
command, traffic files and fixtures: a mapping becomes JSON (as Istio sends pluginConfig),
a string goes as is."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from meshwasm.cli import main
from meshwasm.plugin_config import (PluginConfigError, as_config_bytes, config_bytes,
                                    config_file_bytes)
from meshwasm.replay.traffic import TrafficError, load_traffic
from tests.harness.wat import Wat, write

PROJECT = Path(__file__).resolve().parents[3]
HELLO = PROJECT / "examples" / "hello" / "filter.py"
CONFIG_YAML = "greeting: héllo\nlimits: [1, 2]\nnested: {ok: true}\n"
AS_JSON = '{"greeting":"héllo","limits":[1,2],"nested":{"ok":true}}'.encode()


def test_a_mapping_becomes_compact_json_and_a_string_goes_as_is() -> None:
    assert config_bytes({"b": 1, "a": [True, None, 1.5]}) == b'{"b":1,"a":[true,null,1.5]}'
    assert config_bytes(["x"]) == b'["x"]'
    assert config_bytes("a: 1") == b"a: 1"  # a string is not parsed
    assert config_bytes(b"\xff\x00") == b"\xff\x00"
    assert config_bytes(None) == b""
    assert config_bytes({"day": datetime.date(2024, 1, 2)}) == b'{"day":"2024-01-02"}'


def test_what_json_cannot_carry_is_refused_by_name() -> None:
    with pytest.raises(PluginConfigError, match="holds a set"):
        config_bytes({"a": {1, 2}})
    with pytest.raises(PluginConfigError, match="not JSON"):
        config_bytes({"a": float("nan")})
    with pytest.raises(PluginConfigError, match="not object"):
        config_bytes(object())


def test_data_files_go_by_their_value_other_files_byte_for_byte(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG_YAML, encoding="utf-8")
    (tmp_path / "c.json").write_text('{"greeting": "héllo",\n "limits": [1, 2], '
                                     '"nested": {"ok": true}}', encoding="utf-8")
    (tmp_path / "s.yaml").write_text("just a string\n")
    (tmp_path / "c.txt").write_text(CONFIG_YAML, encoding="utf-8")
    assert config_file_bytes(tmp_path / "c.yaml") == AS_JSON
    assert config_file_bytes(tmp_path / "c.json") == AS_JSON
    assert config_file_bytes(tmp_path / "s.yaml") == b"just a string"
    assert config_file_bytes(tmp_path / "c.txt") == CONFIG_YAML.encode()
    assert as_config_bytes(tmp_path / "c.yaml") == AS_JSON  # a Path is a file
    assert as_config_bytes(str(tmp_path / "c.yaml")) == str(tmp_path / "c.yaml").encode()


def test_a_broken_file_is_named_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(PluginConfigError, match=r"bad\.yaml:3: invalid YAML"):
        config_file_bytes(bad)
    with pytest.raises(PluginConfigError, match=r"missing\.json: cannot read"):
        config_file_bytes(tmp_path / "missing.json")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"a: \xe9\n")
    with pytest.raises(PluginConfigError, match=r"latin\.yaml: not UTF-8 text"):
        config_file_bytes(latin)


def test_traffic_files_use_the_rule_inline_and_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG_YAML, encoding="utf-8")
    inline = tmp_path / "inline.yaml"
    inline.write_text("plugin_config:\n" + "".join(f"  {line}\n" for line in
                                                   CONFIG_YAML.splitlines())
                      + "requests: [{name: a}]\n", encoding="utf-8")
    from_file = tmp_path / "file.yaml"
    from_file.write_text("plugin_config_file: c.yaml\nrequests: [{name: a}]\n")
    assert load_traffic(inline).plugin_config == AS_JSON
    assert load_traffic(from_file).plugin_config == AS_JSON
    (tmp_path / "broken.yaml").write_text("a: [\n")
    broken = tmp_path / "t.yaml"
    broken.write_text("requests: [{name: a}]\nplugin_config_file: broken.yaml\n")
    with pytest.raises(TrafficError, match=r"t\.yaml:2: plugin_config_file: .*broken\.yaml:2: "
                                           "invalid YAML"):
        load_traffic(broken)


def test_envoy_config_and_wasmplugin_send_the_same_bytes(tmp_path: Path) -> None:
    module = write(tmp_path, Wat().module({}))
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG_YAML, encoding="utf-8")
    envoy = CliRunner().invoke(main, ["envoy-config", str(module), "--plugin-config",
                                      str(config)])
    assert envoy.exit_code == 0, envoy.output
    wasm = yaml.safe_load(envoy.stdout)["static_resources"]["listeners"][0]["filter_chains"][0][
        "filters"][0]["typed_config"]["http_filters"][0]["typed_config"]["config"]
    assert wasm["configuration"]["value"].encode() == AS_JSON
    plugin = CliRunner().invoke(main, ["wasmplugin", "hello", "--url",
                                       "oci://ghcr.io/a/b:v1", "--plugin-config", str(config)])
    assert plugin.exit_code == 0, plugin.output
    # Istio turns spec.pluginConfig into this JSON for the filter
    assert config_bytes(yaml.safe_load(plugin.stdout)["spec"]["pluginConfig"]) == AS_JSON


def test_wasmplugin_needs_a_mapping_and_envoy_config_names_a_bad_file(tmp_path: Path) -> None:
    text = tmp_path / "s.yaml"
    text.write_text("- a\n- b\n")
    plugin = CliRunner().invoke(main, ["wasmplugin", "hello", "--url",
                                       "oci://ghcr.io/a/b:v1", "--plugin-config", str(text)])
    assert plugin.exit_code == 1
    assert f"{text}: spec.pluginConfig must be a mapping" in plugin.output
    module = write(tmp_path, Wat().module({}))
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": [}')
    envoy = CliRunner().invoke(main, ["envoy-config", str(module), "--plugin-config", str(bad)])
    assert envoy.exit_code == 2
    assert "--plugin-config" in envoy.output and f"{bad}:1: invalid YAML" in envoy.output


def test_replay_plugin_config_replaces_the_traffic_files(tmp_path: Path) -> None:
    traffic = tmp_path / "t.yaml"
    traffic.write_text("plugin_config: from the traffic file\nrequests:\n  - name: a\n"
                       "    expect:\n      headers:\n        x-hello-config: '{\"a\":1}'\n")
    config = tmp_path / "c.yaml"
    config.write_text("a: 1\n")
    base = ["replay", "--engine", "source", str(HELLO), str(traffic)]
    without = CliRunner().invoke(main, base)
    assert without.exit_code == 1 and "from the traffic file" in without.output
    given = CliRunner().invoke(main, [*base, "--plugin-config", str(config)])
    assert given.exit_code == 0, given.output
    missing = CliRunner().invoke(main, [*base, "--plugin-config", str(tmp_path / "no.yaml")])
    assert missing.exit_code == 2 and "no.yaml" in missing.output

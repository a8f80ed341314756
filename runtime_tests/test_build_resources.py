"""Data files beside a filter reach it inside the compiled module, and a configuration that
breaks the filter's schema is rejected with a message naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.builder.pipeline import build_filter
from meshwasm.harness import HarnessError, replay_module
from meshwasm.replay.traffic import parse_traffic

FILTER = '''
import json
from proxy_wasm import Action, HttpContext, RootContext, config_schema, log, register, resources

SCHEMA = json.loads(resources.read("schema.json"))

class Root(RootContext):
    def on_configure(self, configuration: bytes) -> bool:
        try:
            self.settings = config_schema.load(configuration, SCHEMA)
        except config_schema.ConfigError as error:
            log.error(f"bad configuration: {error}")
            return False
        return True

class Greet(HttpContext):
    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.response_headers.set("x-greeting", self.root.settings["greeting"])
        return Action.CONTINUE

register(Greet, root=Root)
'''
SCHEMA = ('{"type": "object", "additionalProperties": false, "required": ["greeting"],'
          ' "properties": {"greeting": {"type": "string", "minLength": 1}}}')



@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("greet")
    (folder / "greet.py").write_text(FILTER)
    (folder / "schema.json").write_text(SCHEMA)
    return build_filter(folder / "greet.py", folder / "greet.wasm").output


def test_embedded_schema_accepts_a_good_configuration(module: Path) -> None:
    traffic = parse_traffic(
        "plugin_config: '{\"greeting\": \"hi\"}'\nrequests:\n  - name: greets\n"
        "    request: {path: /}\n", "t.yaml")
    [verdict] = replay_module(module, traffic)
    assert verdict.header("x-greeting") == "hi"


def test_bad_configuration_is_rejected_naming_the_field(module: Path) -> None:
    traffic = parse_traffic(
        "plugin_config: '{\"greting\": \"hi\"}'\nrequests:\n  - name: greets\n"
        "    request: {path: /}\n", "t.yaml")
    with pytest.raises(HarnessError) as caught:
        replay_module(module, traffic)
    message = str(caught.value)
    assert "greeting: required" in message
    assert "greting: unknown field" in message

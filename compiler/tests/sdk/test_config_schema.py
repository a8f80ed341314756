"""The in-proxy configuration validator names each bad field, and agrees with jsonschema on
what is valid for the keywords it supports."""

from __future__ import annotations

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy_wasm import config_schema

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["limits"],
    "properties": {
        "mode": {"enum": ["enforce", "shadow"]},
        "limits": {
            "type": "array", "minItems": 1,
            "items": {"$ref": "#/$defs/limit"},
        },
    },
    "$defs": {
        "limit": {
            "type": "object", "required": ["tokens"], "additionalProperties": False,
            "properties": {
                "tokens": {"type": "integer", "minimum": 1},
                "header": {"type": "string", "pattern": "^[a-z-]+$"},
            },
        },
    },
}


@pytest.mark.parametrize("document, message", [
    ({}, "limits: required"),
    ({"limits": []}, "limits: needs at least 1 items"),
    ({"limits": [{"tokens": 0}]}, "limits[0].tokens: 0 is less than the minimum 1"),
    ({"limits": [{"tokens": "5"}]}, 'limits[0].tokens: expected integer, got "5"'),
    ({"limits": [{"tokens": 1, "header": "X-Up"}]}, "limits[0].header: \"X-Up\" does not match"),
    ({"limits": [{"tokens": 1}], "mdoe": 1}, "mdoe: unknown field (known: limits, mode)"),
    ({"limits": [{"tokens": 1}], "mode": "loud"}, 'mode: "loud" is not one of'),
    ([], "(top level): expected object"),
])
def test_each_problem_names_its_field(document: object, message: str) -> None:
    found = config_schema.validate(document, SCHEMA)
    assert any(error.startswith(message) for error in found), found


def test_load_parses_json_and_raises_with_every_problem() -> None:
    with pytest.raises(config_schema.ConfigError) as caught:
        config_schema.load(b'{"limits": [{"tokens": 0}], "extra": true}', SCHEMA)
    assert len(caught.value.errors) == 2
    with pytest.raises(config_schema.ConfigError, match="not valid JSON"):
        config_schema.load(b"{limits", SCHEMA)
    assert config_schema.load(b'{"limits": [{"tokens": 3}]}', SCHEMA)["limits"][0]["tokens"] == 3


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["limits", "mode", "tokens", "header", "x"]), inner, max_size=3),
    max_leaves=8)


@given(json_values)
def test_agrees_with_jsonschema_on_validity(document: object) -> None:
    expected_valid = jsonschema.Draft202012Validator(SCHEMA).is_valid(document)
    assert (config_schema.validate(document, SCHEMA) == []) == expected_valid


@pytest.mark.parametrize("text, where", [
    ('{"delay": ' + "[" * 100_000 + "]" * 100_000 + "}", "delay[0][0][0][0]..."),
    ('{"a": {"b": [1, {"c": ' + '{"d": ' * 5000 + "1" + "}" * 5000 + "}]}}", "a.b[1].c.d..."),
    ("[" * 50_000 + "]" * 50_000, "[0][0][0][0][0]..."),
])
def test_too_deep_nesting_is_a_config_error_naming_where(text: str, where: str) -> None:
    with pytest.raises(config_schema.ConfigError) as refused:
        config_schema.load(text.encode(), {"type": "object"})
    assert str(refused.value) == f"{where}: nested more than 1000 levels deep, too deep to read"


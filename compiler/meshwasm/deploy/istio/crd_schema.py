"""Validate an object against a CRD's structural OpenAPI v3 schema, as the API server would.

What is checked, and reported in the API server's wording with the field path:

* types (``integer`` accepts only whole numbers; ``format: int32`` bounds them), ``nullable``,
  ``x-kubernetes-int-or-string``;
* ``enum`` ("Unsupported value"), ``pattern``, ``minLength``/``maxLength``, ``minimum``/
  ``maximum``, ``maxItems``, ``maxProperties``, ``required`` ("Required value");
* unknown fields — rejected as ``kubectl apply`` does by default (strict field validation)
  unless the schema has ``x-kubernetes-preserve-unknown-fields``;
* ``x-kubernetes-list-type: map`` keys must be unique ("Duplicate value");
* ``x-kubernetes-validations`` CEL rules (``k8s_cel``), evaluated only when the object passed
  every schema check, as the API server skips them on schema errors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from meshwasm.deploy.istio.k8s_cel import rule_holds

_INT32 = (-(2**31), 2**31 - 1)
_TYPE_NAMES = {"object": dict, "array": list, "string": str, "boolean": bool}


@dataclass(frozen=True)
class FieldError:
    """One reason the object is invalid: the field path and the API server's message."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def _quote(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (str, int, float, bool)) or value is None \
        else json.dumps(value, sort_keys=True)


def _kind(value: Any) -> str:
    """The JSON type name of ``value``, as the API server quotes it in type and rule errors."""
    if isinstance(value, bool):
        return "boolean"
    for python, name in ((dict, "object"), (list, "array"), (str, "string"), (int, "integer"),
                         (float, "number")):
        if isinstance(value, python):
            return name
    return "null"


def _matches_type(value: Any, expected: str) -> bool:
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, float) and value.is_integer())
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPE_NAMES.get(expected, object))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class _Validator:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.rules: list[tuple[str, Any, dict[str, Any]]] = []  # (path, value, rule)

    def fail(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def check(self, value: Any, schema: dict[str, Any], path: str) -> None:
        if value is None:
            if not schema.get("nullable"):
                self.fail(path, f"Invalid value: \"null\": {path} in body must be of type "
                                f"{schema.get('type', 'object')}: \"null\"")
            return
        if schema.get("x-kubernetes-int-or-string"):
            if not (_matches_type(value, "integer") or isinstance(value, str)):
                self.fail(path, f"Invalid value: \"{_kind(value)}\": {path} in body must be "
                                "of type integer or string")
            return
        expected = schema.get("type")
        if expected and not _matches_type(value, expected):
            self.fail(path, f"Invalid value: \"{_kind(value)}\": {path} in body must be of type "
                            f"{expected}: \"{_kind(value)}\"")
            return
        for rule in schema.get("x-kubernetes-validations", []):
            self.rules.append((path, value, rule))
        if "enum" in schema and value not in schema["enum"]:
            supported = ", ".join(_quote(v) for v in schema["enum"])
            self.fail(path, f"Unsupported value: {_quote(value)}: supported values: {supported}")
        if isinstance(value, str):
            self._string(value, schema, path)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self._number(value, schema, path)
        elif isinstance(value, list):
            self._array(value, schema, path)
        elif isinstance(value, dict):
            self._object(value, schema, path)

    def _string(self, value: str, schema: dict[str, Any], path: str) -> None:
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            self.fail(path, f"Too long: may not be more than {schema['maxLength']} bytes")
        if "minLength" in schema and len(value) < schema["minLength"]:
            self.fail(path, f"Invalid value: {_quote(value)}: {path} in body should be at least "
                            f"{schema['minLength']} chars long")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            self.fail(path, f"Invalid value: {_quote(value)}: {path} in body should match "
                            f"'{schema['pattern']}'")

    def _number(self, value: float, schema: dict[str, Any], path: str) -> None:
        low, high = schema.get("minimum"), schema.get("maximum")
        if schema.get("format") == "int32":
            low = _INT32[0] if low is None else max(low, _INT32[0])
            high = _INT32[1] if high is None else min(high, _INT32[1])
        if low is not None and value < low:
            self.fail(path, f"Invalid value: {_quote(value)}: {path} in body should be greater "
                            f"than or equal to {low}")
        if high is not None and value > high:
            self.fail(path, f"Invalid value: {_quote(value)}: {path} in body should be less "
                            f"than or equal to {high}")

    def _array(self, value: list[Any], schema: dict[str, Any], path: str) -> None:
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            self.fail(path, f"Too many: {len(value)}: must have at most {schema['maxItems']} items")
        items = schema.get("items", {})
        for index, item in enumerate(value):
            self.check(item, items, f"{path}[{index}]")
        keys = schema.get("x-kubernetes-list-map-keys")
        if schema.get("x-kubernetes-list-type") == "map" and keys:
            seen: set[str] = set()
            for index, item in enumerate(value):
                if not isinstance(item, dict):
                    continue
                key = json.dumps({k: item.get(k) for k in keys}, sort_keys=True)
                if key in seen:
                    self.fail(f"{path}[{index}]", f"Duplicate value: {key}")
                seen.add(key)

    def _object(self, value: dict[str, Any], schema: dict[str, Any], path: str) -> None:
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            self.fail(path, f"Too many: {len(value)}: must have at most "
                            f"{schema['maxProperties']} items")
        for name in schema.get("required", []):
            if name not in value:
                self.fail(_join(path, name), "Required value")
        properties: dict[str, Any] = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        for name, item in value.items():
            if name in properties:
                self.check(item, properties[name], _join(path, name))
            elif isinstance(additional, dict):
                self.check(item, additional, f"{path}[{name}]")
            elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                self.fail("", f"unknown field \"{_join(path, name)}\"")


def validate_structural(value: Any, schema: dict[str, Any], path: str = "") -> list[FieldError]:
    """Every error of ``value`` against ``schema``; CEL rules only when the schema passed."""
    validator = _Validator()
    validator.check(value, schema, path)
    if validator.errors:
        return validator.errors
    for rule_path, rule_value, rule in validator.rules:
        holds, reason = rule_holds(rule["rule"], rule_value)
        if not holds:
            message = rule.get("message") or f"failed rule: {rule['rule']}"
            if reason:
                message += f" (rule error: {reason})"
            validator.fail(rule_path, f"Invalid value: \"{_kind(rule_value)}\": {message}")
    return validator.errors

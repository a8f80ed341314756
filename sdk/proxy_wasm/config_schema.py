"""Validate a filter's JSON configuration against its JSON Schema, inside the proxy.

The ``jsonschema`` package cannot be bundled into a module, so this is a small validator for
the subset configuration schemas use: ``type``, ``properties``, ``required``,
``additionalProperties``, ``items``, ``enum``, ``const``, ``minimum``/``maximum`` (and the
exclusive forms), ``minLength``/``maxLength``, ``pattern``, ``minItems``/``maxItems``,
``uniqueItems``, ``minProperties``, ``oneOf``/``anyOf``/``allOf``, ``propertyNames``,
``patternProperties`` and local ``$ref`` (``#/$defs/...``).  Unknown keywords are ignored, as
JSON Schema says.  Each error names the field path, e.g. ``limits[0].tokens: -1 is less than
the minimum 1``.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # not `from typing`: that would freeze typing into every module
if TYPE_CHECKING:
    from typing import Any

    Schema = dict[str, Any]

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class ConfigError(ValueError):
    """A configuration that does not follow its schema; ``errors`` lists every problem."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


def _child(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _show(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Validator:
    def __init__(self, root: Schema) -> None:
        self.root = root

    def resolve(self, reference: str) -> Schema:
        if not reference.startswith("#/"):
            raise ValueError(f"only local $ref is supported, got {reference!r}")
        node: object = self.root
        for part in reference[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]  # type: ignore[index]
        return node  # type: ignore[return-value]

    def check(self, value: object, schema: object, path: str, errors: list[str]) -> None:
        if schema is True or schema == {}:
            return
        if schema is False:
            errors.append(f"{path or '(top level)'}: not allowed")
            return
        assert isinstance(schema, dict)
        where = path or "(top level)"
        if "$ref" in schema:
            self.check(value, self.resolve(schema["$ref"]), path, errors)
        expected = schema.get("type")
        if expected is not None:
            names = expected if isinstance(expected, list) else [expected]
            if not any(_TYPES[name](value) for name in names):
                errors.append(f"{where}: expected {' or '.join(names)}, got {_show(value)}")
                return
        if "enum" in schema and value not in schema["enum"]:
            allowed = ", ".join(_show(v) for v in schema["enum"])
            errors.append(f"{where}: {_show(value)} is not one of {allowed}")
        if "const" in schema and value != schema["const"]:
            errors.append(f"{where}: must be {_show(schema['const'])}")
        for keyword in ("allOf", "anyOf", "oneOf"):
            if keyword in schema:
                self._combination(keyword, value, schema[keyword], where, path, errors)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self._number(value, schema, where, errors)
        elif isinstance(value, str):
            self._string(value, schema, where, errors)
        elif isinstance(value, list):
            self._array(value, schema, path, where, errors)
        elif isinstance(value, dict):
            self._object(value, schema, path, where, errors)

    def _combination(self, keyword: str, value: object, options: list[Any], where: str, path: str,
                     errors: list[str]) -> None:
        results = []
        for option in options:
            found: list[str] = []
            self.check(value, option, path, found)
            results.append(found)
        passing = sum(1 for found in results if not found)
        if keyword == "allOf":
            for found in results:
                errors.extend(found)
        elif keyword == "anyOf" and passing == 0:
            errors.append(f"{where}: matches none of the allowed forms ({results[0][0]})")
        elif keyword == "oneOf" and passing != 1:
            reason = "none" if passing == 0 else f"{passing}"
            errors.append(f"{where}: must match exactly one allowed form, matches {reason}")

    @staticmethod
    def _number(value: float, schema: Schema, where: str, errors: list[str]) -> None:
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} is less than the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} is more than the maximum {schema['maximum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{where}: {value} must be more than {schema['exclusiveMinimum']}")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            errors.append(f"{where}: {value} must be less than {schema['exclusiveMaximum']}")

    @staticmethod
    def _string(value: str, schema: Schema, where: str, errors: list[str]) -> None:
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{where}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where}: longer than {schema['maxLength']} characters")
        if "pattern" in schema:
            import re  # only filters whose schema uses patterns pay for `re`

            if re.search(schema["pattern"], value) is None:
                errors.append(f"{where}: {_show(value)} does not match {schema['pattern']!r}")

    def _array(self, value: list[Any], schema: Schema, path: str, where: str,
               errors: list[str]) -> None:
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{where}: needs at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{where}: allows at most {schema['maxItems']} items")
        if schema.get("uniqueItems"):
            seen = [json.dumps(item, sort_keys=True) for item in value]
            if len(set(seen)) != len(seen):
                errors.append(f"{where}: items must be unique")
        if "items" in schema:
            for index, item in enumerate(value):
                self.check(item, schema["items"], _child(path, index), errors)

    def _object(self, value: Schema, schema: Schema, path: str, where: str,
                errors: list[str]) -> None:
        for name in schema.get("required", ()):
            if name not in value:
                errors.append(f"{_child(path, name)}: required")
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            errors.append(f"{where}: needs at least {schema['minProperties']} fields")
        properties = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if "propertyNames" in schema:
                self.check(name, schema["propertyNames"], _child(path, name), errors)
            matched = False
            if name in properties:
                matched = True
                self.check(item, properties[name], _child(path, name), errors)
            if patterns:
                import re

                for pattern, sub_schema in patterns.items():
                    if re.search(pattern, name):
                        matched = True
                        self.check(item, sub_schema, _child(path, name), errors)
            if not matched:
                if extra is False:
                    known = ", ".join(sorted(properties)) or "none"
                    errors.append(f"{_child(path, name)}: unknown field (known: {known})")
                elif isinstance(extra, dict):
                    self.check(item, extra, _child(path, name), errors)


def validate(document: object, schema: Schema) -> list[str]:
    """Every way ``document`` breaks ``schema`` (empty when it is valid)."""
    found: list[str] = []
    _Validator(schema).check(document, schema, "", found)
    return found


def check(document: object, schema: Schema) -> None:
    """Raise ``ConfigError`` listing every problem, or return when ``document`` is valid."""
    found = validate(document, schema)
    if found:
        raise ConfigError(found)


def load(configuration: bytes, schema: Schema) -> Schema:
    """Parse JSON ``configuration`` and validate it: the usual first line of ``on_configure``.

    An empty configuration is read as ``{}``.  Raises ``ConfigError`` naming the problem.
    """
    try:
        document = json.loads(configuration or b"{}")
        check(document, schema)
    except RecursionError:  # the parser or the validator ran out of stack: say where
        raise ConfigError([_too_deep(configuration)]) from None
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError([f"(top level): not valid JSON: {error}"]) from None
    if not isinstance(document, dict):
        raise ConfigError(["(top level): expected object"])
    return document


#: ``_too_deep`` stops looking once the nesting passes this (deeper than Python can parse)
_DEEPEST_REPORTED = 1000


def _too_deep(configuration: bytes) -> str:
    """The error for JSON nested too deeply to read: the path to its deepest point (or to
    where it passes ``_DEEPEST_REPORTED``), found without recursion: a scan of brackets,
    commas, colons and strings."""
    text = configuration.decode("utf-8", "replace")
    path: list[int | str] = []  # per open bracket: an array index, or an object's current key
    deepest: list[int | str] = []
    key = ""
    position = 0
    while position < len(text):
        char = text[position]
        if char == '"':
            end = position + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            key = text[position + 1:end]
            position = end
        elif char in "[{":
            path.append(0 if char == "[" else "")
            if len(path) > len(deepest):
                deepest = list(path)
                if len(deepest) > _DEEPEST_REPORTED:
                    break
        elif char in "]}" and path:
            path.pop()
        elif char == "," and path and isinstance(path[-1], int):
            path[-1] += 1
        elif char == ":" and path:
            path[-1] = key
        position += 1
    shown = _format_path(deepest[:5]) + ("..." if len(deepest) > 5 else "")
    depth = f"more than {_DEEPEST_REPORTED}" if len(deepest) > _DEEPEST_REPORTED \
        else str(len(deepest))
    return f"{shown or '(top level)'}: nested {depth} levels deep, too deep to read"


def _format_path(parts: list[int | str]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out

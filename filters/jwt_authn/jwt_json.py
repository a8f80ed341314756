"""JSON as Envoy's JWT library reads it (protobuf's JSON parser into a ``Struct``): a key
twice in one object is an error, ``NaN``/``Infinity`` are not JSON, nor is a ``\\u``
escape of half a surrogate pair (protobuf strings are UTF-8), objects and lists nest at
most ``MAX_DEPTH`` deep, and a comma before a closing ``]`` or ``}`` is tolerated.

``loads(text)`` raises ``ValueError`` (or ``RecursionError`` for absurd nesting).
"""

from __future__ import annotations

import json
import json.scanner
from typing import Any


class DuplicateKey(ValueError):
    """An object names a key twice."""


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise DuplicateKey("a key appears twice in one object")
    return value


def _not_a_number(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


_SPACE = " \t\n\r"  # JSON's whitespace
# The decoder's scanner, called directly: JSONDecoder.decode does the same through three
# Python frames and two regular-expression matches for the whitespace around the value,
# which cost more than the C scanner itself in a built module (a token's two segments).
# (typeshed asks for a scanner: what make_scanner reads is the decoder's settings)
_scan = json.scanner.make_scanner(
    json.JSONDecoder(object_pairs_hook=_object, parse_constant=_not_a_number))  # type: ignore[arg-type]


def _decode(text: str) -> object:
    """``json.JSONDecoder.decode`` with this module's hooks: the same value or error."""
    start = len(text) - len(text.lstrip(_SPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as error:
        raise json.JSONDecodeError("Expecting value", text, error.value) from None
    if end != len(text) and text[end:].lstrip(_SPACE):
        end = len(text) - len(text[end:].lstrip(_SPACE))
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def without_trailing_commas(text: str) -> str:
    """``text`` without the commas (outside strings) that come right before ``]`` or ``}``
    after a value; other commas, and everything else, left as they are.  (One pass: a
    hostile token may be all commas.)"""
    out: list[str] = []
    in_string = escaped = False
    last = ""  # the last character outside strings that is not a space
    comma = -1  # where in ``out`` a comma waits for the next such character
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char not in _SPACE:
            if comma >= 0 and char in "]}":
                out[comma] = ""
            comma = -1
            if char == "," and last not in ("", "[", "{", ","):
                comma = len(out)
            elif char == '"':
                in_string = True
            last = char
        out.append(char)
    return "".join(out)


MAX_DEPTH = 100


def _too_deep(value: object) -> bool:
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        pending += [(child, depth + 1) for child in children
                    if isinstance(child, (dict, list))]
    return False


def _has_lone_surrogate(value: object) -> bool:
    """Whether a string in ``value`` (a key too) holds half a surrogate pair."""
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending += item.keys()
            pending += item.values()
        elif isinstance(item, list):
            pending += item
    return False


def loads(text: str) -> object:
    """Parse ``text`` as Envoy's JWT library does."""
    try:
        value = _decode(text)
    except DuplicateKey:
        raise
    except ValueError:
        if "," not in text:
            raise
        value = _decode(without_trailing_commas(text))
    # (counting brackets is cheap, and below the limit no walk is needed)
    if text.count("[") + text.count("{") > MAX_DEPTH and isinstance(value, (dict, list)) \
            and _too_deep(value):
        raise ValueError(f"nested deeper than {MAX_DEPTH}")
    # (only a \\u escape can make a surrogate: the text itself came from UTF-8)
    if "\\u" in text and _has_lone_surrogate(value):
        raise ValueError("half a surrogate pair")
    return value

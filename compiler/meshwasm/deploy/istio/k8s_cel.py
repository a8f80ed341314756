"""Evaluate a CRD's ``x-kubernetes-validations`` rules as the Kubernetes API server does.

The rules are CEL; we run them with ``cel-python`` (PyPI ``cel-python``, pure Python).  It was
chosen over ``common-expression-language`` (Rust bindings) after trying both on the WasmPlugin
rules: both evaluate them, but ``common-expression-language`` brings typer/pydantic along, and
``cel-python``'s ``has()``/ternary/``all()`` semantics matched the API server on every rule here.

Kubernetes adds library functions to CEL; the WasmPlugin CRD uses the URL library:
``isURL(string)``, ``url(string)`` and ``<URL>.getScheme()`` (also ``getHost``/``getPath``
here).  The API server implements them with Go's ``url.ParseRequestURI``; ``parse_request_uri``
reproduces the parts of it that decide validity and the scheme.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import celpy
import celpy.celtypes as celtypes

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


class CelRuleError(ValueError):
    """A rule could not be compiled (a bug in the CRD, not in the object)."""


@dataclass(frozen=True)
class ParsedURL:
    scheme: str
    host: str
    path: str


def parse_request_uri(text: str) -> ParsedURL | None:
    """What Go's ``url.ParseRequestURI`` accepts, or None when it returns an error.

    An absolute URI (``scheme:…``) or an absolute path (``/…``); no fragments; no control
    characters or spaces; an authority's port must be digits.
    """
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text) or "#" in text:
        return None
    match = _SCHEME.match(text)
    if match is None:
        return ParsedURL("", "", text.split("?", 1)[0]) if text.startswith("/") else None
    scheme, rest = match.group(1).lower(), text[match.end():]
    rest = rest.split("?", 1)[0]
    if not rest.startswith("/"):
        return ParsedURL(scheme, "", "")  # opaque, e.g. "mailto:x" or "localhost:5000/x"
    host, path = "", rest
    if rest.startswith("//"):
        authority, _, tail = rest[2:].partition("/")
        path = "/" + tail if tail or rest[2:].endswith("/") else ""
        host = authority.rsplit("@", 1)[-1]
        port = host.rsplit("]", 1)[-1].partition(":")[2] if ":" in host.rsplit("]", 1)[-1] else ""
        if port and not port.isdigit():
            return None
    return ParsedURL(scheme, host, path)


class _URL(celtypes.StringType):
    """The CEL ``URL`` value: a string that remembers it was parsed."""


def _is_url(value: celtypes.Value) -> celtypes.BoolType:
    return celtypes.BoolType(parse_request_uri(str(value)) is not None)


def _url(value: celtypes.Value) -> _URL:
    if parse_request_uri(str(value)) is None:
        raise ValueError(f"URL parse error during conversion from string: {value}")
    return _URL(str(value))


def _part(name: str) -> Any:
    def getter(value: celtypes.Value) -> celtypes.StringType:
        parsed = parse_request_uri(str(value))
        return celtypes.StringType(getattr(parsed, name) if parsed else "")
    return getter


FUNCTIONS = {"isURL": _is_url, "url": _url, "getScheme": _part("scheme"),
             "getHost": _part("host"), "getEscapedPath": _part("path")}


@lru_cache(maxsize=None)
def _program(rule: str) -> Any:
    environment = celpy.Environment()
    try:
        return environment.program(environment.compile(rule), functions=FUNCTIONS)
    except celpy.CELParseError as error:
        raise CelRuleError(f"rule {rule!r} does not compile: {error}") from None


def rule_holds(rule: str, value: Any) -> tuple[bool, str | None]:
    """Evaluate ``rule`` with ``self`` bound to ``value`` (plain JSON data).

    Returns (True, None) when it holds, (False, None) when it is false, and (False, reason)
    when evaluation failed (the API server reports those as invalid too).
    """
    try:
        result = _program(rule).evaluate({"self": celpy.json_to_cel(value)})
    except CelRuleError:
        raise
    except Exception as error:  # cel-python raises CELEvalError and Python errors alike
        return False, str(error)
    if isinstance(result, celtypes.BoolType):
        return bool(result), None
    return False, f"rule gave {type(result).__name__}, not bool: {result}"

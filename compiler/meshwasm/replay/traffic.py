"""Load a traffic YAML file into ``meshwasm.replay.model.Traffic``.

The file is validated against ``traffic.schema.json`` (JSON Schema 2020-12).  Any problem
raises ``TrafficError`` naming the file, the YAML line, the request (index and name) and the
field path, e.g.::

    traffic.yaml:14: request #2 ('denied path'): expect.statsu: unknown field
"""

from __future__ import annotations

import calendar
import json
import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from meshwasm.plugin_config import PluginConfigError, config_bytes, config_file_bytes
from meshwasm.replay.model import (
    ElapsedBounds, Exchange, Expectation, GrpcAnswer, GrpcScripts, HarnessLimits, HeaderChecks,
    Headers, HttpRequest, LogCheck, PluginLogCheck, Traffic, UpstreamResponse, ValueCheck,
)

SCHEMA_PATH = Path(__file__).with_name("traffic.schema.json")
_MAX_REPORTED = 10
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built in: ~2x faster

Path_ = tuple[str | int, ...]


class TrafficError(ValueError):
    """A traffic file that cannot be read or does not follow the schema."""


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.Draft202012Validator(schema)


class _Lines:
    """Where each value (and each mapping key) of the document was written, 1-based."""

    def __init__(self) -> None:
        self.values: dict[Path_, int] = {}
        self.keys: dict[Path_, int] = {}

    def line(self, path: Path_) -> int:
        """The line of ``path``, or of its closest ancestor that has one."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return 1


def _to_python(node: yaml.Node, path: Path_, lines: _Lines, source: str) -> Any:
    lines.values[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(_scalar(key_node))
            if key in result:
                raise TrafficError(f"{source}:{key_node.start_mark.line + 1}: duplicate key "
                                   f"{key!r} in {_dotted(path) or 'the top level'}")
            lines.keys[path + (key,)] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, path + (key,), lines, source)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, path + (i,), lines, source) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    """A node's value as PyYAML's safe loader resolves it (``on`` -> True, ``1`` -> 1 ...),
    except timestamps, kept as written (``now:`` is checked as text)."""
    if node.tag == "tag:yaml.org,2002:timestamp":
        return node.value
    constructor = yaml.constructor.SafeConstructor()
    return constructor.construct_object(node, deep=True)


def _dotted(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _where(source: str, path: Path_, lines: _Lines, data: Any) -> str:
    """``file:line: request #i ('name'): field.path`` for an error at ``path``."""
    where = f"{source}:{lines.line(path)}"
    if len(path) >= 2 and path[0] == "requests" and isinstance(path[1], int):
        index = path[1]
        name = None
        try:
            name = data["requests"][index].get("name")
        except (AttributeError, IndexError, KeyError, TypeError):
            pass
        where += f": request #{index + 1}" + (f" ({name!r})" if isinstance(name, str) else "")
        field = _dotted(path[2:])
    else:
        field = _dotted(path)
    return where + (f": {field}" if field else "")


def _describe(error: jsonschema.ValidationError) -> tuple[Path_, str]:
    """A path and a short message for one schema error (pointing unknown keys at the key)."""
    path: Path_ = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        if extra and allowed:
            return path + (extra[0],), (f"unknown field {extra[0]!r} "
                                        f"(allowed: {', '.join(allowed)})")
    if error.validator in ("oneOf", "anyOf") and error.context:
        deepest = max(error.context, key=lambda e: len(e.absolute_path))
        return _describe(deepest)
    message = error.message
    if error.validator == "not" and not path:
        return path + ("plugin_config_file",), ("give either plugin_config or "
                                                 "plugin_config_file, not both")
    if error.validator == "type" and isinstance(error.instance, bool):
        message += " (YAML reads unquoted on/off/yes/no/true/false as booleans: quote it)"
    if error.validator == "pattern" and path[-2:] == ("request", "path"):
        message = f"{error.instance!r}: a path starts with '/' (e.g. '/{error.instance}')"
    elif error.validator == "pattern" and path == ("now",):
        message = f"{error.instance!r}: expected an RFC 3339 time such as 2030-06-01T12:00:00Z"
    return path, message


def _headers(value: Any) -> Headers:
    items = value.items() if isinstance(value, dict) else (value or [])
    return [(str(k).lower(), str(v)) for k, v in items]


def _checks(value: dict[str, Any] | None) -> HeaderChecks:
    """Expected header values by lower-cased name: exact strings, or ``ValueCheck``s."""
    found: HeaderChecks = {}
    for name, check in (value or {}).items():
        if isinstance(check, dict):
            found[str(name).lower()] = ValueCheck(
                prefix=check.get("prefix"), absent=check.get("absent", False),
                regex=re.compile(check["regex"]) if "regex" in check else None)
        else:
            found[str(name).lower()] = str(check)
    return found


def _log_checks(value: list[Any] | None) -> list[LogCheck]:
    return [_log_check(item) for item in value or []]


def _log_check(item: Any) -> LogCheck:
    if not isinstance(item, dict):
        return str(item)
    text = re.compile(item["regex"]) if "regex" in item else item.get("contains")
    if "plugin" in item:
        return PluginLogCheck(str(item["plugin"]), text)
    return re.compile(item["regex"])


def _encoded(value: str | None) -> bytes | None:
    return None if value is None else value.encode()


def _json_check(expect: dict[str, Any], key: str) -> Any:
    return expect[key] if key in expect else Expectation().body_json


def _regex_problems(root: Any, lines: _Lines, source: str) -> list[str]:
    """Every ``regex:`` of the file that Python's ``re`` cannot compile, with where it is."""
    problems = []
    pending: list[tuple[Path_, Any]] = [((), root)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            pending += [(path + (key,), item) for key, item in value.items()]
        elif isinstance(value, list):
            pending += [(path + (index,), item) for index, item in enumerate(value)]
        elif path and path[-1] == "regex" and isinstance(value, str):
            try:
                re.compile(value)
            except re.error as error:
                where = _where(source, path, lines, root)
                problems.append(f"{where}: not a valid regular expression: {error}")
    return sorted(problems)


def _response(value: dict[str, Any] | None) -> UpstreamResponse:
    value = value or {}
    return UpstreamResponse(status=value.get("status", 200), headers=_headers(value.get("headers")),
                            body=value.get("body", "").encode(),
                            delay_ms=value.get("delay_ms", 0), reset=value.get("reset", False),
                            trailers=_headers(value.get("trailers")))


def _elapsed(value: dict[str, int] | None) -> ElapsedBounds | None:
    if value is None:
        return None
    return ElapsedBounds(at_least=value.get("at_least"), at_most=value.get("at_most"))


def _clusters(value: dict[str, Any] | None) -> dict[str, UpstreamResponse]:
    return {name: _response(answer) for name, answer in (value or {}).items()}


def _grpc_message(value: dict[str, str]) -> bytes:
    return bytes.fromhex(value["hex"]) if "hex" in value else value["text"].encode()


def _grpc(value: dict[str, Any] | None) -> GrpcScripts:
    """The ``grpc`` section: cluster -> method -> ``GrpcAnswer`` (the schema checked it)."""
    return {
        cluster: {method: GrpcAnswer(
            messages=tuple(_grpc_message(item) for item in answer.get("messages", [])),
            status=answer.get("status", 0), message=answer.get("message", ""),
            initial_metadata=_headers(answer.get("initial_metadata")),
            trailing_metadata=_headers(answer.get("trailing_metadata")),
            delay_ms=answer.get("delay_ms", 0), reset=answer.get("reset", False))
            for method, answer in methods.items()}
        for cluster, methods in (value or {}).items()}


def _milliseconds(value: int | str) -> int:
    """``1500`` / ``"1500ms"`` / ``"1.5s"`` -> 1500 (the schema checked the form)."""
    if isinstance(value, int):
        return value
    if value.endswith("ms"):
        return round(float(value[:-2]))
    return round(float(value[:-1]) * 1000)


def _exchange(item: dict[str, Any], line: int, at_ms: int) -> Exchange:
    request = item.get("request") or {}
    expect = item.get("expect") or {}
    return Exchange(
        name=item["name"],
        request=HttpRequest(
            method=request.get("method", "GET"),
            path=request.get("path", "/"),
            authority=request.get("authority", "example.com"),
            headers=_headers(request.get("headers")),
            body=request.get("body", "").encode(),
            trailers=_headers(request.get("trailers")),
        ),
        upstream=_response(item.get("upstream")),
        expect=Expectation(
            status=expect.get("status"),
            headers=_checks(expect.get("headers")),
            headers_present=[h.lower() for h in expect.get("headers_present", [])],
            headers_absent=[h.lower() for h in expect.get("headers_absent", [])],
            body=_encoded(expect.get("body")),
            body_contains=_encoded(expect.get("body_contains")),
            body_json=_json_check(expect, "body_json"),
            logs=_log_checks(expect.get("logs")),
            upstream_headers=_checks(expect.get("upstream_headers")),
            upstream_body=_encoded(expect.get("upstream_body")),
            upstream_body_contains=_encoded(expect.get("upstream_body_contains")),
            upstream_body_json=_json_check(expect, "upstream_body_json"),
            trailers=_checks(expect.get("trailers")),
            upstream_trailers=_checks(expect.get("upstream_trailers")),
            upstream_reached=expect.get("upstream_reached"),
            metrics=dict(expect.get("metrics") or {}),
            elapsed_ms=_elapsed(expect.get("elapsed_ms")),
        ),
        line=line,
        at_ms=at_ms,
        worker=item.get("worker"),
        clusters=_clusters(item.get("clusters")),
        grpc=_grpc(item.get("grpc")),
    )


def _exchanges(data: dict[str, Any], lines: _Lines, source: str) -> list[Exchange]:
    """The requests in order, each with its virtual time (``at`` never goes back)."""
    exchanges, at_ms = [], 0
    for index, item in enumerate(data["requests"]):
        if "at" in item:
            wanted = _milliseconds(item["at"])
            if wanted < at_ms:
                where = _where(source, ("requests", index, "at"), lines, data)
                raise TrafficError(f"{where}: {item['at']!r} is earlier than the previous "
                                   f"request ({at_ms}ms): 'at' is absolute and never decreases")
            at_ms = wanted
        exchanges.append(_exchange(item, lines.line(("requests", index)), at_ms))
    return exchanges


def _now(data: dict[str, Any], lines: _Lines, source: str) -> int | None:
    """``now:`` as nanoseconds since the epoch (the schema checked its shape)."""
    if "now" not in data:
        return None
    text = str(data["now"]).replace("z", "Z").replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise TrafficError(f"{_where(source, ('now',), lines, data)}: {error}") from None
    seconds = calendar.timegm(moment.utctimetuple())
    return seconds * 1_000_000_000 + moment.microsecond * 1000


def _plugin_config(data: dict[str, Any], lines: _Lines, source: str,
                   path: Path | None) -> bytes:
    """``plugin_config`` or ``plugin_config_file`` (relative to the traffic file's
    directory) as the filter reads it (``meshwasm.plugin_config``'s rule)."""
    key = "plugin_config_file" if "plugin_config_file" in data else "plugin_config"
    base = path.parent if path is not None else Path.cwd()
    try:
        if key == "plugin_config_file":
            return config_file_bytes(base / data[key])
        return config_bytes(data.get(key))
    except PluginConfigError as error:
        raise TrafficError(f"{_where(source, (key,), lines, data)}: {error}") from None


def _limits(data: dict[str, Any]) -> HarnessLimits:
    """``harness_limits:`` (the schema checked it); 0 means no limit, as on the command line."""
    given = data.get("harness_limits") or {}
    default = HarnessLimits()
    seconds = given.get("callback_time_limit", default.callback_time_limit_s)
    megabytes = given.get("memory_limit_mb", default.memory_limit_mb)
    return HarnessLimits(callback_time_limit_s=float(seconds) if seconds else None,
                         memory_limit_mb=int(megabytes) if megabytes else None)


def parse_traffic(text: str, source: str = "<traffic>", path: Path | None = None) -> Traffic:
    """Parse traffic YAML ``text``; ``source`` names it in error messages."""
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise TrafficError(f"{source}:{line}: invalid YAML: {error.problem or error}") from None
    except yaml.YAMLError as error:
        raise TrafficError(f"{source}: invalid YAML: {error}") from None
    if root is None:
        raise TrafficError(f"{source}:1: the file is empty (expected 'requests:')")
    lines = _Lines()
    data = _to_python(root, (), lines, source)
    errors = sorted(_validator().iter_errors(data),
                    key=lambda e: (lines.line(tuple(e.absolute_path)), list(map(str, e.path))))
    if errors:
        messages = []
        for error in errors[:_MAX_REPORTED]:
            where, message = _describe(error)
            messages.append(f"{_where(source, where, lines, data)}: {message}")
        if len(errors) > _MAX_REPORTED:
            messages.append(f"... and {len(errors) - _MAX_REPORTED} more problems")
        raise TrafficError("\n".join(messages))
    problems = _regex_problems(data, lines, source)
    if problems:
        raise TrafficError("\n".join(problems))
    return Traffic(path=path or Path(source),
                   plugin_config=_plugin_config(data, lines, source, path),
                   exchanges=_exchanges(data, lines, source), workers=data.get("workers", 1),
                   clusters=_clusters(data.get("clusters")), grpc=_grpc(data.get("grpc")),
                   now_ns=_now(data, lines, source), limits=_limits(data))


def load_traffic(path: Path | str) -> Traffic:
    """Read and validate the traffic file at ``path``; raises ``TrafficError``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TrafficError(f"{path}: cannot read traffic file: {error}") from None
    return parse_traffic(text, source=str(path), path=path)

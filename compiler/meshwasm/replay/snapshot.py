"""Snapshot expectations: a traffic file's ``expect:`` rewritten to what a replay observed
(``meshwasm replay --update``), reviewed as a unified diff, written only when asked.

What is updated, per request: ``status``; the response headers the expectation already names
(an exact value becomes the observed one, ``{absent: true}`` when it is gone; a prefix or
regular-expression check is kept while it still holds) plus any named with
``--snapshot-header``; the body where one is checked, or where the request had no ``expect``
at all (a new snapshot) — ``body_json`` stays JSON, ``body_contains`` is kept while it still
holds, otherwise ``body`` gets the observed text (not for a binary body or one over
``MAX_SNAPSHOT_BODY``, which are left alone with a note).  Log, upstream, metric and timing
checks are not snapshots: they stay as written.

The file is edited with ruamel.yaml's round trip, so comments, key order, quoting and flow
mappings (``{status: 200}``) are kept; only changed values are rewritten.
"""

from __future__ import annotations

import difflib
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from meshwasm.replay.model import Exchange, Traffic, ValueCheck, Verdict

MAX_SNAPSHOT_BODY = 64 * 1024


@dataclass
class Snapshot:
    """The file before and after the update, and what could not be snapshotted."""

    before: str
    after: str
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self, name: str) -> str:
        return "".join(difflib.unified_diff(
            self.before.splitlines(keepends=True), self.after.splitlines(keepends=True),
            fromfile=f"{name} (expected)", tofile=f"{name} (observed)"))


def _yaml_for(text: str) -> YAML:
    yaml = YAML()  # round trip
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    if re.search(r"^requests:\s*\n-", text, re.MULTILINE):
        yaml.indent(mapping=2, sequence=2, offset=0)
    else:
        yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def snapshot(text: str, traffic: Traffic, verdicts: Sequence[Verdict],
             extra_headers: Sequence[str] = ()) -> Snapshot:
    """``text`` (the traffic file ``traffic`` was loaded from) with every request's
    expectations set to what its verdict observed (see the module docstring)."""
    yaml = _yaml_for(text)
    document = yaml.load(text)
    result = Snapshot(text, text)
    requests = document["requests"]
    for item, exchange, verdict in zip(requests, traffic.exchanges, verdicts):
        expect = item.get("expect")
        fresh = expect is None
        if expect is None:
            expect = item["expect"] = CommentedMap()
        _update(expect, exchange, verdict, [h.lower() for h in extra_headers], result.notes,
                fresh)
    out = io.StringIO()
    yaml.dump(document, out)
    result.after = out.getvalue()
    return result


def _flow(mapping: Any) -> bool:
    return bool(getattr(getattr(mapping, "fa", None), "flow_style", lambda: False)())


def _update(expect: CommentedMap, exchange: Exchange, verdict: Verdict, extra: list[str],
            notes: list[str], fresh: bool) -> None:
    # What follows the last entry (a blank line, a comment) belongs to that entry in
    # ruamel's model: taken off before keys are added, given to the new last entry after.
    trailing = _pop_trailing(expect)
    expect["status"] = verdict.status
    _update_headers(expect, exchange, verdict, extra)
    if fresh or any(key in expect for key in ("body", "body_contains", "body_json")):
        _update_body(expect, exchange, verdict, notes)
    if trailing is not None:
        _put_trailing(expect, trailing)


def _pop_trailing(node: Any) -> Any:
    """Remove and return the comment token after ``node``'s last entry (searched in its
    nested last values), or None."""
    if isinstance(node, CommentedMap) and node:
        last = list(node)[-1]
        entry = node.ca.items.get(last)
        if entry and len(entry) > 2 and entry[2] is not None:
            token, entry[2] = entry[2], None
            return token
        return _pop_trailing(node[last])
    if isinstance(node, CommentedSeq) and node:
        entry = node.ca.items.get(len(node) - 1)
        if entry and entry[0] is not None:
            token, entry[0] = entry[0], None
            return token
        return _pop_trailing(node[-1])
    return None


def _put_trailing(node: Any, token: Any) -> None:
    """Attach ``token`` after the last scalar entry under ``node``."""
    if isinstance(node, CommentedMap) and node:
        last = list(node)[-1]
        if isinstance(node[last], (CommentedMap, CommentedSeq)) and node[last]:
            _put_trailing(node[last], token)
        else:
            entry = node.ca.items.setdefault(last, [None, None, None, None])
            entry[2] = token
    elif isinstance(node, CommentedSeq) and node:
        if isinstance(node[-1], (CommentedMap, CommentedSeq)) and node[-1]:
            _put_trailing(node[-1], token)
        else:
            entry = node.ca.items.setdefault(len(node) - 1, [None, None, None, None])
            entry[0] = token


def _observed(verdict: Verdict, name: str) -> list[str]:
    return [value for key, value in verdict.headers if key == name]


def _update_headers(expect: CommentedMap, exchange: Exchange, verdict: Verdict,
                    extra: list[str]) -> None:
    names = list(exchange.expect.headers) + [n for n in extra
                                             if n not in exchange.expect.headers]
    if not names:
        return
    headers = expect.get("headers")
    if headers is None:
        headers = expect["headers"] = CommentedMap()
        if _flow(expect):
            headers.fa.set_flow_style()
    by_lower = {str(key).lower(): key for key in headers}
    for name in names:
        values = _observed(verdict, name)
        check = exchange.expect.headers.get(name)
        if isinstance(check, ValueCheck) and not check.absent and check.accepts(values):
            continue  # a prefix or regex check that still holds stays as written
        key = by_lower.get(name, name)
        if values:
            headers[key] = values[0]
        else:
            absent = CommentedMap(absent=True)
            absent.fa.set_flow_style()
            headers[key] = absent


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _update_body(expect: CommentedMap, exchange: Exchange, verdict: Verdict,
                 notes: list[str]) -> None:
    text = _text(verdict.body)
    if text is None or len(verdict.body) > MAX_SNAPSHOT_BODY:
        if any(key in expect for key in ("body", "body_contains", "body_json")) \
                or verdict.body:
            notes.append(f"request {exchange.name!r} (line {exchange.line}): the body is "
                         f"{'binary' if text is None else 'over 64 KiB'}: left as written")
        return
    if "body_json" in expect:
        try:
            expect["body_json"] = json.loads(text)
            return
        except ValueError:
            del expect["body_json"]
    if "body_contains" in expect:
        wanted = exchange.expect.body_contains or b""
        if wanted in verdict.body:
            return
        del expect["body_contains"]
    if not text and "body" not in expect:
        return  # an empty body is only written where a body was expected
    multiline = "\n" in text.rstrip("\n") and not _flow(expect) and text.endswith("\n")
    expect["body"] = LiteralScalarString(text) if multiline else text

"""replay --update's snapshot: what is rewritten, what is kept (comments, layout, checks that
still hold), and that the result loads and matches what was observed."""

from __future__ import annotations

from pathlib import Path

from meshwasm.replay.expect import evaluate
from meshwasm.replay.model import Verdict
from meshwasm.replay.snapshot import snapshot
from meshwasm.replay.traffic import parse_traffic

TRAFFIC = """\
# a comment at the top stays
requests:
  - name: first   # a comment on a line stays
    request: {path: /a}
    expect:
      status: 200
      headers:
        x-kept: {prefix: "v"}      # still holds: kept as written
        x-changed: old
        x-gone: here
      body_contains: hello
      logs: [saw /a]

  - name: second, flow style
    request: {path: /b}
    expect: {status: 201, body_json: {n: 1}}
  - name: third, nothing expected yet
    request: {path: /c}
"""


def _verdicts() -> list[Verdict]:
    return [
        Verdict(status=503, headers=[("x-kept", "v2"), ("x-changed", "new"),
                                     ("content-type", "text/plain")],
                body=b"line one\nline two\n"),
        Verdict(status=200, headers=[], body=b'{"n": 2}'),
        Verdict(status=404, headers=[("content-type", "text/html")], body=b"\xff\xfe"),
    ]


def test_expectations_become_what_was_observed_with_comments_kept() -> None:
    traffic = parse_traffic(TRAFFIC, "t.yaml", Path("t.yaml"))
    result = snapshot(TRAFFIC, traffic, _verdicts(), extra_headers=["Content-Type"])
    after = result.after
    assert "# a comment at the top stays" in after
    assert "name: first   # a comment on a line stays" in after
    assert 'x-kept: {prefix: "v"}      # still holds: kept as written' in after
    assert "x-changed: new" in after and "x-gone: {absent: true}" in after
    assert "body: |\n        line one\n        line two\n" in after
    assert "body_contains" not in after  # no longer held: replaced by the exact body
    assert "logs: [saw /a]" in after  # not a snapshot: kept
    # flow style kept, the snapshot header added in flow style too
    assert "expect: {status: 200, body_json: {n: 2}, headers: {content-type: {absent: true}}}" \
        in after
    assert "status: 404" in after and "content-type: text/html" in after
    assert result.notes == ["request 'third, nothing expected yet' (line 17): the body is "
                            "binary: left as written"]
    assert "\n\n  - name: second" in after  # the blank line between requests stays put
    updated = parse_traffic(after, "t.yaml", Path("t.yaml"))
    outcomes = evaluate(updated, _verdicts())
    assert [o.mismatches for o in outcomes][1:] == [[], []]
    assert [m.check for m in outcomes[0].mismatches] == ["log line containing"]


def test_an_unchanged_file_is_byte_identical() -> None:
    text = TRAFFIC.split("  - name: third")[0]
    traffic = parse_traffic(text, "t.yaml", Path("t.yaml"))
    same = [Verdict(status=200, headers=[("x-kept", "v1"), ("x-changed", "old"),
                                         ("x-gone", "here")], body=b"say hello"),
            Verdict(status=201, headers=[], body=b'{"n": 1}')]
    result = snapshot(text, traffic, same)
    assert not result.changed and result.after == text
    changed = snapshot(text, traffic, [same[0], Verdict(status=500, headers=[], body=b"")])
    assert "-    expect: {status: 201, body_json: {n: 1}}" in changed.diff("t.yaml")

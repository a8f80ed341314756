"""``meshwasm replay --json FILE --junit-xml FILE``: the report for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from click.testing import CliRunner

from meshwasm.cli import main
from tests.harness.wat import Wat, write

TRAFFIC = """requests:
  - name: passes
    request: {path: /a}
    expect: {status: 200, logs: [saw]}
  - name: fails
    request: {path: /b}
    expect: {status: 403}
"""


def test_json_and_junit_reports_say_what_the_console_says(tmp_path: Path) -> None:
    w = Wat()
    module = write(tmp_path, w.module({"proxy_on_request_headers": w.say("saw")}))
    traffic = tmp_path / "t.yaml"
    traffic.write_text(TRAFFIC)
    json_path, junit_path = tmp_path / "out" / "r.json", tmp_path / "r.xml"
    result = CliRunner().invoke(main, ["replay", str(module), str(traffic), "--json",
                                       str(json_path), "--junit-xml", str(junit_path)])
    assert result.exit_code == 1, result.output

    report = json.loads(json_path.read_text())
    assert report["summary"] == {"requests": 2, "as_expected": 1, "not": 1}
    passes, fails = report["requests"]
    assert (passes["name"], passes["ok"], passes["line"]) == ("passes", True, 2)
    assert passes["logs"] == [{"level": "info", "message": "saw"}]
    assert fails["ok"] is False and fails["status"] == 200
    assert fails["mismatches"] == [{"check": "status", "expected": "403", "actual": "200"}]

    suite = ElementTree.parse(junit_path).getroot()
    assert (suite.tag, suite.get("tests"), suite.get("failures")) == ("testsuite", "2", "1")
    first, second = suite.findall("testcase")
    assert first.get("name") == "#1 passes" and first.find("failure") is None
    assert first.findtext("system-out") == "[info] saw"
    failure = second.find("failure")
    assert failure is not None and failure.get("message") == "status"
    assert failure.text == "status: expected 403, got 200"

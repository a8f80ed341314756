"""``meshwasm replay --engine envoy`` prints each request's verdict as it comes, not all at the
end: a replay in Envoy takes real time (``at:`` waits on the wall clock)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .processes import descendants, stop_tree

pytestmark = pytest.mark.envoy

TRAFFIC = Path(__file__).resolve().parent / "other_sdk" / "hello_c.traffic.yaml"
#: the second request waits this long after the first, so Envoy is certainly still running
#: when the first verdict is printed (the check below times nothing)
SECOND_AT = "6s"


def _envoys_below(pid: int) -> list[int]:
    names = []
    for child in descendants(pid):
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() == "envoy":
                names.append(child)
        except OSError:
            continue
    return names


def test_each_verdict_is_printed_while_the_replay_goes_on(c_filter_wasm: Path,
                                                          tmp_path: Path) -> None:
    text = TRAFFIC.read_text()
    marker = "  - name: the denied path is answered locally with 403\n"
    assert marker in text
    traffic = tmp_path / "t.yaml"
    traffic.write_text(text.replace(marker, marker + f"    at: {SECOND_AT}\n"))
    process = subprocess.Popen(
        [sys.executable, "-m", "meshwasm", "replay", "--engine", "envoy", str(c_filter_wasm),
         str(traffic)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        for line in process.stdout:  # a pipe: the command must flush each verdict itself
            lines.append(line)
            if "#1 " in line:
                # Envoy still serves: a report printed at the end comes after it stopped
                envoy_running = bool(_envoys_below(process.pid))
                break
        else:
            pytest.fail("no line for request #1:\n" + "".join(lines))
        rest = process.stdout.read()
        assert process.wait(timeout=120) == 0, "".join(lines) + rest
    finally:
        stop_tree(process)
    assert envoy_running, "the first verdict came only once Envoy had been stopped"
    assert "✓ #1 an allowed request" in lines[-1]
    assert "✓ #2 the denied path is answered locally with 403" in rest
    assert rest.rstrip().endswith("2 requests: 2 as expected, 0 not (engine: envoy)")

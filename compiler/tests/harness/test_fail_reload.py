"""FAIL_RELOAD in the harness: after a trap, requests fail closed until Envoy's reload
back-off has passed, then a new VM (fresh per-VM state) serves; the back-off grows with each
reload.  Envoy's own behaviour is pinned by runtime_tests/test_limits.py."""

from __future__ import annotations

from pathlib import Path

from tests.harness.wat import Wat, write
from meshwasm.harness import replay_module
from meshwasm.replay.model import Exchange, Expectation, HttpRequest, Traffic, UpstreamResponse


def _second_request_traps() -> bytes:
    """Each VM counts its requests in a global and traps on its second one."""
    w = Wat()
    return w.module({"proxy_on_request_headers": """
        (global.set $served (i32.add (global.get $served) (i32.const 1)))
        (if (i32.eq (global.get $served) (i32.const 2)) (then unreachable))"""},
        extra="(global $served (mut i32) (i32.const 0))")


def test_a_failed_vm_is_replaced_after_the_back_off(tmp_path: Path) -> None:
    times = [0, 10, 500, 1010, 1020, 3000, 4100]
    traffic = Traffic(Path("t"), b"", [
        Exchange(f"#{i}", HttpRequest(path="/"), UpstreamResponse(200, [], b"ok"),
                 Expectation(), at_ms=at) for i, at in enumerate(times)])
    verdicts = replay_module(write(tmp_path, _second_request_traps()), traffic,
                             failure_policy="FAIL_RELOAD")
    assert [v.status for v in verdicts] == [200, 503, 503, 200, 503, 503, 200]
    assert "waits up to 1000 ms" in verdicts[2].notes[0]
    assert "FAIL_RELOAD started a new one (reload 1)" in verdicts[3].notes[0]
    assert "waits up to 3000 ms" in verdicts[5].notes[0]  # (2^2 - 1) s after a second failure
    assert "(reload 2)" in verdicts[6].notes[0]
    closed = replay_module(write(tmp_path, _second_request_traps()), traffic)
    assert [v.status for v in closed] == [200] + [503] * 6

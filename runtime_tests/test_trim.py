"""`meshwasm build --trim-to TRAFFIC`: only what the traffic ran stays; a request that reaches
a removed function fails by the filter's fail policy, and neither the VM nor Envoy dies."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from meshwasm.builder import wasmbin
from meshwasm.builder.pipeline import build_filter
from meshwasm.builder.stamp import read_stamp
from meshwasm.deploy.envoy.replay import replay_in_envoy
from meshwasm.harness import replay_module
from meshwasm.replay.expect import evaluate
from meshwasm.replay.traffic import load_traffic

from .conftest import PROJECT

HELLO = PROJECT / "examples" / "hello"


def _code_size(module: Path) -> int:
    return next(len(s.payload) for s in wasmbin.parse_sections(module.read_bytes())
                if s.id == wasmbin.SECTION_CODE)


def _traffic_subset(tmp_path: Path, name: str, indices: list[int]) -> Path:
    traffic = yaml.safe_load((HELLO / "traffic.yaml").read_text())
    traffic["requests"] = [traffic["requests"][i] for i in indices]
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(traffic))
    return path


@pytest.fixture(scope="module")
def trimmed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trim")
    return build_filter(HELLO / "filter.py", out / "hello.wasm",
                        trim_to=[HELLO / "traffic.yaml"]).output


@pytest.mark.slow
def test_a_module_trimmed_to_its_traffic_is_smaller_says_so_and_passes_it(
        trimmed: Path, tmp_path: Path) -> None:
    full = build_filter(HELLO / "filter.py", tmp_path / "full.wasm").output
    assert _code_size(trimmed) < _code_size(full) / 2
    assert "trimmed to" in (read_stamp(trimmed.read_bytes()) or {}).get("trimmed", "")
    assert "trimmed" not in (read_stamp(full.read_bytes()) or {})
    traffic = load_traffic(HELLO / "traffic.yaml")
    outcomes = evaluate(traffic, replay_module(trimmed, traffic))
    assert [o.mismatches for o in outcomes] == [[] for _ in outcomes]


@pytest.mark.slow
@pytest.mark.envoy
def test_the_trimmed_module_passes_its_traffic_in_envoy(trimmed: Path) -> None:
    traffic = load_traffic(HELLO / "traffic.yaml")
    outcomes = evaluate(traffic, replay_in_envoy(trimmed, traffic))
    assert [o.mismatches for o in outcomes] == [[] for _ in outcomes]


@pytest.mark.slow
def test_a_request_that_reaches_removed_code_fails_closed_without_a_trap(tmp_path: Path) -> None:
    # Trimmed to a request the filter lets through; /admin makes it send a local reply,
    # code that request never ran.
    allowed_only = _traffic_subset(tmp_path, "allowed", [0])
    module = build_filter(HELLO / "filter.py", tmp_path / "h.wasm", trim_to=[allowed_only]).output
    verdicts = replay_module(module, load_traffic(_traffic_subset(tmp_path, "admin", [1, 0])))
    denied = verdicts[0]
    assert denied.status == 500  # the filter's error_status (fail_open=False)
    assert any("reached code removed from the module" in line.message for line in denied.logs)
    assert denied.upstream_request is None
    # the VM is alive: the next request is answered by the filter, not by a failed VM's 503
    assert verdicts[1].status != 503 and not any("trap" in note for note in verdicts[1].notes)

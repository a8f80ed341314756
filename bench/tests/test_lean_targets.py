"""The target table of bench/lean_runtime.py on made-up figures (no Envoy, no build): which
targets appear, that CPU and RSS targets compare *added* cost, and where the limits sit."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

_PATH = Path(__file__).resolve().parent.parent / "lean_targets.py"
_SPEC = importlib.util.spec_from_file_location("bench_lean_targets", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
targets = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = targets  # dataclasses look their module up
_SPEC.loader.exec_module(targets)


def size(total: float, code: float) -> dict[str, int]:
    return {"bytes": int(total * 1e6), "code": int(code * 1e6), "data": 0, "gzip": 0}


def cpu(us: float) -> dict[str, float]:
    return {"us": us}


def rss(ready_mib: float, traffic_mib: float) -> dict[str, float]:
    return {"rss_ready_kib": ready_mib * 1024, "rss_traffic_kib": traffic_mib * 1024}


#: every target met, each at or just inside its limit
MEETS: dict[str, Any] = {
    "sizes": {"hello": size(2.0, 0.7), "baseline": size(4.84, 1.6),
              "jwt_authn": size(2.5, 1.0), "rate_limit": size(2.4, 1.0),
              "fault": size(2.0, 1.0)},
    "startup": {"none": {"ready_s": 0.1}, "c": {"ready_s": 0.12},
                "baseline": {"ready_s": 2.0}, "hello": {"ready_s": 0.6}},
    "memory": {"none": rss(60, 61), "c": rss(70, 71), "hello": rss(80, 81)},
    "cpu": {"none": cpu(100), "c": cpu(110), "hello": cpu(112),
            "jwt_hs256_native": cpu(120), "jwt_hs256": cpu(130),
            "jwt_rs256_native": cpu(150), "jwt_rs256": cpu(250),
            "rate_limit": cpu(110), "fault": cpu(105)},
}


def by_target(figures: dict[str, Any]) -> dict[str, Any]:
    return {verdict.target: verdict for verdict in targets.evaluate(figures)}


def test_every_target_is_checked_and_met_at_its_limit() -> None:
    verdicts = by_target(MEETS)
    assert len(verdicts) == 5 + 1 + 2 + 5
    assert all(verdict.passed for verdict in verdicts.values()), [
        verdict for verdict in verdicts.values() if not verdict.passed]
    assert "13 of 13 targets met" in targets.format_verdicts(list(verdicts.values()))


@pytest.mark.parametrize(("path", "value", "target"), [
    (("sizes", "hello", "bytes"), 2_000_001, "hello module size"),
    (("sizes", "hello", "code"), 700_001, "hello code section"),
    (("sizes", "jwt_authn", "bytes"), 2_500_001, "jwt_authn module size"),
    (("startup", "hello", "ready_s"), 0.61, "Envoy ready, hello vs today's hello"),
    (("memory", "hello", "rss_traffic_kib"), 81.1 * 1024,
     "RSS added by hello after traffic vs C filter"),
    # added cost: 12.1 us over no filter against the C filter's 10 us
    (("cpu", "hello", "us"), 112.1, "hello CPU added/request vs C filter"),
    (("cpu", "jwt_rs256", "us"), 250.1, "jwt_authn fresh RS256 vs native jwt_authn"),
    (("cpu", "fault", "us"), 110.1, "fault (nothing injected) vs C filter"),
])
def test_just_past_a_limit_fails_that_target_only(path: tuple[str, ...], value: float,
                                                  target: str) -> None:
    figures = copy.deepcopy(MEETS)
    figures[path[0]][path[1]][path[2]] = value
    failed = [verdict.target for verdict in targets.evaluate(figures) if not verdict.passed]
    assert failed == [target]
    assert "FAIL  " + target in targets.format_verdicts(targets.evaluate(figures))


def test_cpu_ratio_is_of_added_cost_not_of_totals() -> None:
    figures = copy.deepcopy(MEETS)
    for name in figures["cpu"]:  # a busier machine: every Envoy costs 1000 us more
        figures["cpu"][name]["us"] += 1000
    verdict = by_target(figures)["hello CPU added/request vs C filter"]
    assert verdict.value == pytest.approx(1.2)


def test_a_peer_adding_nothing_measurable_divides_by_the_floor() -> None:
    figures = copy.deepcopy(MEETS)
    figures["cpu"]["c"]["us"] = 99.0  # noise: the C filter "saves" 1 us
    verdict = by_target(figures)["hello CPU added/request vs C filter"]
    assert verdict.value == pytest.approx(12 / targets.CPU_FLOOR_US)
    assert not verdict.passed


def test_phases_not_run_have_no_targets() -> None:
    sizes_only = {"sizes": MEETS["sizes"]}
    assert len(targets.evaluate(sizes_only)) == 5
    no_baseline = copy.deepcopy(MEETS)
    del no_baseline["startup"]["baseline"]
    del no_baseline["cpu"]["jwt_hs256_native"]
    names = set(by_target(no_baseline))
    assert "Envoy ready, hello vs today's hello" not in names
    assert "jwt_authn cached HS256 vs native jwt_authn" not in names
    assert len(names) == 11

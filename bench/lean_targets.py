"""The targets of issue 8 ("lean runtime") and their verdicts on the figures one run of
``bench/lean_runtime.py`` took.  Pure: no Envoy, no build, so it is unit-tested.

Figures are the JSON ``lean_runtime --json`` writes (keys below); a phase that was not run
has no key and its targets are left out.

- ``sizes[name]``: ``bytes``, ``code``, ``data``, ``gzip`` (bytes) for ``hello``,
  ``baseline`` and the shipped filters;
- ``startup[variant]["ready_s"]``: Envoy's median time to ready (``none``, ``c``,
  ``baseline``, ``hello``);
- ``memory[variant]["rss_ready_kib"]`` / ``["rss_traffic_kib"]``: Envoy's median VmRSS;
- ``cpu[variant]["us"]``: Envoy's median CPU per request.  A filter's *added* cost is its
  figure minus the ``none`` (no filter) Envoy's, both from the same run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MB = 1e6  # as the module sizes are quoted (the baseline's 4.84 MB is 4,84x,xxx bytes)
SHIPPED = ("jwt_authn", "rate_limit", "fault")
#: a peer's added figure below these is noise; ratios divide by at least this much
CPU_FLOOR_US = 0.1
RSS_FLOOR_KIB = 64.0

#: (numerator, denominator, at most, what) for CPU added per request
CPU_TARGETS = (
    ("hello", "c", 1.2, "hello CPU added/request vs C filter"),
    ("jwt_hs256", "jwt_hs256_native", 1.5, "jwt_authn cached HS256 vs native jwt_authn"),
    ("jwt_rs256", "jwt_rs256_native", 3.0, "jwt_authn fresh RS256 vs native jwt_authn"),
    ("rate_limit", "c", 1.0, "rate_limit (not limiting) vs C filter"),
    ("fault", "c", 1.0, "fault (nothing injected) vs C filter"),
)


@dataclass(frozen=True)
class Verdict:
    """One target: ``value`` (in ``unit``) must be at most ``limit``."""

    target: str
    value: float
    limit: float
    unit: str  # "MB", "x" (a ratio) or "%"
    detail: str  # the figures the value comes from

    @property
    def passed(self) -> bool:
        return self.value <= self.limit

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def added(table: dict[str, dict[str, float]], variant: str, field: str) -> float:
    """``variant``'s ``field`` minus the no-filter Envoy's."""
    return table[variant][field] - table["none"][field]


def _ratio(value: float, peer: float, floor: float) -> float:
    return value / max(peer, floor)


def _added_detail(ours: float, peer: float, floor: float, unit: str, scale: float = 1.0) -> str:
    text = f"{ours / scale:+.1f} {unit} / {peer / scale:+.1f} {unit}"
    if peer < floor:  # a ratio over the floor: FAIL unless ours is as small (noise: rerun)
        text += f"; the peer adds under {floor / scale:g} {unit}, divided by that"
    return text


def evaluate(figures: dict[str, Any]) -> list[Verdict]:
    """A verdict for every target whose figures are present."""
    verdicts: list[Verdict] = []
    sizes = figures.get("sizes", {})
    if "hello" in sizes:
        hello = sizes["hello"]
        verdicts.append(Verdict("hello module size", hello["bytes"] / MB, 2.0, "MB",
                                f"{hello['bytes']:,} bytes"))
        verdicts.append(Verdict("hello code section", hello["code"] / MB, 0.7, "MB",
                                f"{hello['code']:,} bytes"))
    for name in SHIPPED:
        if name in sizes:
            verdicts.append(Verdict(f"{name} module size", sizes[name]["bytes"] / MB, 2.5, "MB",
                                    f"{sizes[name]['bytes']:,} bytes"))

    startup = figures.get("startup", {})
    if "hello" in startup and "baseline" in startup:
        hello_s, base_s = startup["hello"]["ready_s"], startup["baseline"]["ready_s"]
        verdicts.append(Verdict("Envoy ready, hello vs today's hello", 100 * hello_s / base_s,
                                30.0, "%", f"{hello_s:.3f} s / {base_s:.3f} s"))

    memory = figures.get("memory", {})
    if all(name in memory for name in ("none", "c", "hello")):
        for moment in ("ready", "traffic"):
            field = f"rss_{moment}_kib"
            ours, peer = added(memory, "hello", field), added(memory, "c", field)
            verdicts.append(Verdict(f"RSS added by hello after {moment} vs C filter",
                                    _ratio(ours, peer, RSS_FLOOR_KIB), 2.0, "x",
                                    _added_detail(ours, peer, RSS_FLOOR_KIB, "MiB", 1024)))

    cpu = figures.get("cpu", {})
    if "none" in cpu:
        for mine, peer_name, limit, what in CPU_TARGETS:
            if mine in cpu and peer_name in cpu:
                ours, peer = added(cpu, mine, "us"), added(cpu, peer_name, "us")
                verdicts.append(Verdict(what, _ratio(ours, peer, CPU_FLOOR_US), limit, "x",
                                        _added_detail(ours, peer, CPU_FLOOR_US, "us")))
    return verdicts


def format_verdicts(verdicts: list[Verdict]) -> str:
    """The target table: PASS/FAIL, the target, the figure against its limit, the inputs."""
    width = max((len(verdict.target) for verdict in verdicts), default=0)
    lines = []
    for verdict in verdicts:
        figure = f"{verdict.value:.2f} {verdict.unit}" if verdict.unit != "%" else \
            f"{verdict.value:.0f}%"
        limit = f"{verdict.limit:g} {verdict.unit}" if verdict.unit != "%" else \
            f"{verdict.limit:g}%"
        lines.append(f"  {'PASS' if verdict.passed else 'FAIL'}  {verdict.target:{width}}  "
                     f"{figure:>9} <= {limit:<7} ({verdict.detail})")
    passed = sum(verdict.passed for verdict in verdicts)
    lines.append(f"  {passed} of {len(verdicts)} targets met")
    return "\n".join(lines)

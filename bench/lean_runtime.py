"""Issue 8 ("lean runtime"): every figure its Targets name, measured in one run beside the
peers (a real Envoy with one worker, loopback only), then PASS/FAIL per target.

What it measures
  sizes    module bytes, code and data sections, gzip: examples/hello, today's hello (the
           baseline: the module commit a4d8249 builds, see ``baseline.py``), and the shipped
           filters/jwt_authn, rate_limit and fault (each with its own code).
  startup  Envoy's time to ready (process start until admin /ready says LIVE; module compiled
           by V8 and VMs started) with no filter, the raw-ABI C filter
           (runtime_tests/other_sdk/hello_c.c), the baseline and hello; and the first request's
           latency after ready (for information).
  memory   Envoy's VmRSS (/proc/PID/status) right after ready and after the traffic (keep-alive
           requests through the filter), for the same four Envoys; a filter's figure is the
           difference with the no-filter Envoy.  Also Envoy's admin /memory (tcmalloc:
           allocated, heap_size, pageheap_free); wasm memory and V8 code are not in it.
  cpu      Envoy CPU per request (every thread's schedstat, around bounded keep-alive loops,
           so the client is not counted), every variant a listener of ONE Envoy, requests in
           batches sent round-robin (bench/shared_envoy.py says why), for: no filter, the C
           filter, hello, bench/noop_filter.py (a Python callback that does nothing: the
           floor of any meshwasm filter, for information); native jwt_authn and ours with one cached HS256 token, then with a
           fresh RS256 token per request (plus the Lua RS256 check of bench/jwt_authn.py);
           native local_ratelimit, the Lua counter of bench/rate_limit.py and ours (buckets
           never empty); native fault and ours (nothing injected).  A filter's *added* cost is
           its figure minus the no-filter Envoy's.

How to read it
  For startup and memory every Envoy is a fresh process, the variants are interleaved round
  by round (a drift in machine load hits all of them alike); CPU batches are interleaved
  within one Envoy.  Each figure is the median over rounds (batches), with [min..max] beside
  it.  Only the ratios within one run mean anything: absolute figures
  move by +-30% between runs on shared 2-core machines, and an added figure smaller than
  its spread is not a measurement.  The last table holds the targets: PASS when the figure
  is at most the limit.  ``--quick`` is a smoke run (2 rounds, 300 requests): it proves the
  command works, its ratios are not evidence.

    python bench/lean_runtime.py [--quick] [--only startup|memory|cpu ...] [--json OUT]
                                 [--rounds N] [--requests N]

The first run builds the baseline from commit a4d8249 into ``$MESHWASM_CACHE`` (minutes,
fetches that commit's toolchain from PyPI); later runs reuse it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshwasm.builder.pipeline import build_filter
from meshwasm_testkit.raw_c_filter import compile_raw_c_filter
from meshwasm_testkit import native_peers
from meshwasm.deploy.envoy.config import EnvoyOptions, bootstrap
from meshwasm.deploy.envoy.process import EnvoyProcess, start_envoy
from meshwasm.deploy.envoy.upstream import run_upstream
from meshwasm.replay.model import UpstreamResponse

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(PROJECT))
import jwt_authn as jwt_bench  # noqa: E402
import rate_limit as rate_limit_bench  # noqa: E402
from baseline import COMMIT, baseline_hello  # noqa: E402
from envoy_load import (ADMIN_MEMORY_FIELDS, Request, admin_memory, rss_kib,  # noqa: E402
                        run_load, serial_cpu_us)
from lean_targets import SHIPPED, Verdict, added, evaluate, format_verdicts  # noqa: E402
from shared_envoy import Listener, round_robin_cpu  # noqa: E402
from startup import section_sizes  # noqa: E402

from runtime_tests.jwt_authn.tokens import KeySet, make_token  # noqa: E402

HELLO = PROJECT / "examples" / "hello" / "filter.py"
NOOP = HERE / "noop_filter.py"
C_FILTER = PROJECT / "runtime_tests" / "other_sdk" / "hello_c.c"
PATH = "/products"
PHASES = ("startup", "memory", "cpu")
#: a 4.8 MB module on a busy 2-core machine takes seconds; this bounds a stuck start
READY_TIMEOUT_SECONDS = 60.0
#: both kinds of fault configured, neither ever drawn (percentage 0)
FAULT_CONFIG = {"abort": {"http_status": 503, "percentage": {"numerator": 0}},
                "delay": {"fixed_delay": "1s", "percentage": {"numerator": 0}}}


@dataclass(frozen=True)
class Settings:
    rounds: int  # interleaved rounds (each a fresh Envoy per variant)
    requests: int  # measured requests per CPU variant, in batches
    warmup: int  # requests before them
    traffic: int  # requests between the two memory readings


def settings_from(args: argparse.Namespace) -> Settings:
    rounds, requests, warmup, traffic = (2, 300, 50, 100) if args.quick else (5, 3000, 200, 1000)
    return Settings(args.rounds or rounds, args.requests or requests, warmup, traffic)


@dataclass(frozen=True)
class Variant:
    """One Envoy to measure: a wasm module (``options.module``), a native or Lua filter
    (``bootstrap``) or nothing; the requests it is sent."""

    key: str
    label: str
    options: EnvoyOptions
    bootstrap: dict[str, Any] | None = None
    warmup: list[Request] = field(default_factory=list)
    load: list[Request] = field(default_factory=list)

    @contextmanager
    def envoy(self) -> Iterator[EnvoyProcess]:
        with start_envoy(self.options, config=self.bootstrap, wasm_log_level="error",
                         ready_timeout=READY_TIMEOUT_SECONDS) as envoy:
            yield envoy


@dataclass(frozen=True)
class Modules:
    hello: Path
    hello_trimmed: Path  # opt-in `--trim-to` its own traffic: shown beside, not a target
    c_filter: Path
    noop: Path  # enters Python once per request and does nothing: the floor, for information
    filters: dict[str, Path]
    baseline: Path | None


def build_modules(work: Path, phases: set[str]) -> Modules:
    filters = {name: build_filter(PROJECT / "filters" / name / "filter.py",
                                  work / f"{name}.wasm").output for name in SHIPPED}
    needs_baseline = bool(phases & {"startup", "memory"})
    trimmed = build_filter(HELLO, work / "hello_trimmed.wasm",
                           trim_to=[HELLO.parent / "traffic.yaml"]).output
    return Modules(build_filter(HELLO, work / "hello.wasm").output, trimmed,
                   compile_raw_c_filter(C_FILTER, work / "hello_c.wasm"),
                   build_filter(NOOP, work / "noop.wasm").output, filters,
                   baseline_hello() if needs_baseline else None)


def module_sizes(path: Path) -> dict[str, int]:
    data = path.read_bytes()
    sections = section_sizes(data)
    return {"bytes": len(data), "code": sections.get("code", 0),
            "data": sections.get("data", 0), "gzip": len(gzip.compress(data))}


def hello_variants(upstream_port: int, modules: Modules, traffic: int) -> list[Variant]:
    """No filter, the C filter, the baseline hello and hello: startup and memory."""
    load: list[Request] = [(PATH, {})] * traffic

    def variant(key: str, label: str, module: Path | None) -> Variant:
        return Variant(key, label, EnvoyOptions(upstream_port=upstream_port, module=module,
                                                plugin_config=b"x"), load=load)

    variants = [variant("none", "no filter", None), variant("c", "C filter", modules.c_filter)]
    if modules.baseline is not None:
        variants.append(variant("baseline", f"hello @{COMMIT} (baseline)", modules.baseline))
    variants.append(variant("hello", "hello", modules.hello))
    variants.append(variant("hello_trimmed", "hello --trim-to its traffic (opt-in)",
                            modules.hello_trimmed))
    return variants


def cpu_variants(upstream_port: int, modules: Modules, settings: Settings) -> list[Variant]:
    """Every Envoy of the CPU table, with the requests each is sent."""
    plain = EnvoyOptions(upstream_port=upstream_port)
    count, warm = settings.requests, settings.warmup

    def wasm(module: Path, config: bytes) -> EnvoyOptions:
        return EnvoyOptions(upstream_port=upstream_port, module=module, plugin_config=config)

    simple: list[Request] = [(PATH, {})]
    variants = [
        Variant("none", "no filter", plain, None, simple * warm, simple * count),
        Variant("c", "C filter", wasm(modules.c_filter, b"x"), None, simple * warm,
                simple * count),
        Variant("hello", "hello", wasm(modules.hello, b"x"), None, simple * warm,
                simple * count),
        Variant("noop", "a Python callback doing nothing (floor)", wasm(modules.noop, b""),
                None, simple * warm, simple * count),
    ]

    keys = KeySet()
    jwt_config = jwt_bench.config(keys)
    claims = {"iss": jwt_bench.ISSUER, "sub": "bench", "exp": "+3600"}

    def bearer(tokens: list[str]) -> list[Request]:
        return [("/bench", {"authorization": f"Bearer {token}"}) for token in tokens]

    cached = bearer([make_token(keys, {"alg": "HS256", "kid": "hs1", "claims": claims})])
    fresh = bearer([make_token(keys, {"alg": "RS256", "kid": "rsa1",
                                      "claims": {**claims, "jti": str(index)}})
                    for index in range(warm + count)])  # never one token twice per Envoy
    ours = wasm(modules.filters["jwt_authn"], json.dumps(jwt_config).encode())
    native = native_peers.native_bootstrap(plain, "jwt_authn", jwt_config)
    variants += [
        Variant("jwt_hs256_native", "jwt_authn HS256 cached: native", plain, native,
                cached * warm, cached * count),
        Variant("jwt_hs256", "jwt_authn HS256 cached: ours", ours, None, cached * warm,
                cached * count),
        Variant("jwt_rs256_native", "jwt_authn RS256 fresh: native", plain, native,
                fresh[:warm], fresh[warm:]),
        Variant("jwt_rs256_lua", "jwt_authn RS256 fresh: lua check", plain,
                native_peers.lua(plain, jwt_bench.lua_source(keys)), fresh[:warm],
                fresh[warm:]),
        Variant("jwt_rs256", "jwt_authn RS256 fresh: ours", ours, None, fresh[:warm],
                fresh[warm:]),
    ]

    limits = rate_limit_bench.CONFIG
    users = [("/bench", {"x-user": f"user{index % 4}"}) for index in range(warm + count)]
    variants += [
        Variant("rate_limit_native", "rate_limit: native local_ratelimit", plain,
                native_peers.native_bootstrap(plain, "rate_limit", limits), users[:warm], users[warm:]),
        Variant("rate_limit_lua", "rate_limit: lua counter", plain,
                native_peers.lua(plain, rate_limit_bench.LUA), users[:warm], users[warm:]),
        Variant("rate_limit", "rate_limit: ours",
                wasm(modules.filters["rate_limit"], json.dumps(limits).encode()), None,
                users[:warm], users[warm:]),
        Variant("fault_native", "fault: native", plain,
                native_peers.native_bootstrap(plain, "fault", FAULT_CONFIG),
                simple * warm, simple * count),
        Variant("fault", "fault: ours",
                wasm(modules.filters["fault"], json.dumps(FAULT_CONFIG).encode()), None,
                simple * warm, simple * count),
    ]
    return variants


Sample = Callable[[Variant, EnvoyProcess], dict[str, Any]]


def interleaved(variants: list[Variant], rounds: int,
                sample: Sample) -> dict[str, list[dict[str, Any]]]:
    """``sample`` of a fresh Envoy per variant, variant after variant, ``rounds`` times."""
    samples: dict[str, list[dict[str, Any]]] = {variant.key: [] for variant in variants}
    for round_index in range(rounds):
        for variant in variants:
            progress(f"round {round_index + 1}/{rounds}: {variant.label}")
            try:
                with variant.envoy() as envoy:
                    samples[variant.key].append(sample(variant, envoy))
            except Exception as error:
                raise RuntimeError(f"{variant.label}: {error}") from error
    return samples


def startup_sample(traffic: bool) -> Sample:
    """Time to ready and the first request; with ``traffic``, memory right after ready and
    after the variant's load."""
    def sample(variant: Variant, envoy: EnvoyProcess) -> dict[str, Any]:
        figures: dict[str, Any] = {"ready_s": envoy.ready_seconds}
        if traffic:
            figures["rss_ready_kib"] = rss_kib(envoy.pid)
            figures["admin_ready"] = admin_memory(envoy)
        first = run_load(envoy.listener_port, envoy.pid, [variant.load[:1]])
        if first.statuses != [200]:
            raise RuntimeError(f"the first request was answered {first.statuses}")
        figures["first_request_s"] = first.p50_us / 1e6
        if traffic:
            serial_cpu_us(envoy, variant.load[1:], [])
            figures["rss_traffic_kib"] = rss_kib(envoy.pid)
            figures["admin_traffic"] = admin_memory(envoy)
        return figures
    return sample


#: requests per CPU batch: small enough that the variants' batches interleave finely
CPU_BATCH = 250


def cpu_samples(variants: list[Variant], upstream_port: int,
                settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Every CPU variant as a listener of one Envoy (``shared_envoy.round_robin_cpu``)."""
    listeners = [Listener(variant.key, variant.bootstrap or bootstrap(variant.options),
                          variant.warmup, variant.load) for variant in variants]
    rounds = max(settings.rounds, settings.requests // CPU_BATCH)
    return round_robin_cpu(listeners, EnvoyOptions(upstream_port=upstream_port), rounds,
                           READY_TIMEOUT_SECONDS, progress)


def summarize(samples: dict[str, list[dict[str, Any]]], fields: tuple[str, ...]) -> dict[str, Any]:
    """Per variant: the median, [min, max] and samples of each field (nested dicts: the
    median of each of their fields)."""
    table: dict[str, Any] = {}
    for key, rows in samples.items():
        summary: dict[str, Any] = {}
        for name in fields:
            first = rows[0][name]
            if isinstance(first, dict):
                summary[name] = {inner: statistics.median(row[name][inner] for row in rows)
                                 for inner in first}
            else:
                values = [row[name] for row in rows]
                summary[name] = statistics.median(values)
                summary[f"{name}_range"] = [min(values), max(values)]
                summary[f"{name}_samples"] = values  # round by round
        table[key] = summary
    return table


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def _ratio_line(startup: dict[str, Any]) -> str:
    none, base, hello = (startup[key]["ready_s"] for key in ("none", "baseline", "hello"))
    return (f"  hello / baseline: ready {hello / base:.0%}, time added over no filter "
            f"{(hello - none) / max(base - none, 1e-3):.0%}")


def report(figures: dict[str, Any], labels: dict[str, str], verdicts: list[Verdict]) -> str:
    """The tables: sizes, then each phase that ran, then the targets."""
    run = figures["settings"]
    lines = [f"lean runtime ({', '.join(run['phases'])}): one Envoy worker, loopback, "
             f"{run['rounds']} interleaved rounds; CPU {run['requests']} requests per variant "
             f"after {run['warmup']}, in batches round-robin through one Envoy; memory after "
             f"{run['traffic']} requests",
             f"load average at start {figures['load_average'][0]}, at end "
             f"{figures['load_average'][1]} (figures move +-30% between runs: read the ratios)",
             "", "module sizes (MB)             module     code     data     gzip"]
    for name, size in figures["sizes"].items():
        label = f"hello @{COMMIT} (baseline)" if name == "baseline" else name
        lines.append(f"  {label:26} {size['bytes'] / 1e6:8.2f} {size['code'] / 1e6:8.2f} "
                     f"{size['data'] / 1e6:8.2f} {size['gzip'] / 1e6:8.2f}")
    startup = figures.get("startup")
    if startup:
        lines += ["", "Envoy time to ready, median [min..max]       ready s"
                  "            first request ms"]
        for key, row in startup.items():
            low, high = row["ready_s_range"]
            lines.append(f"  {labels[key]:40} {row['ready_s']:6.3f} [{low:.3f}..{high:.3f}]"
                         f"  {row['first_request_s'] * 1e3:8.1f}")
        if "baseline" in startup:
            lines.append(_ratio_line(startup))
    memory = figures.get("memory")
    if memory:
        lines += ["", "Envoy memory, median (MiB)     RSS ready (added)  RSS traffic (added)"
                  "   admin /memory, ready->traffic: " + ", ".join(ADMIN_MEMORY_FIELDS)]
        for key, row in memory.items():
            rss = [(row[field], added(memory, key, field))
                   for field in ("rss_ready_kib", "rss_traffic_kib")]
            admin = "  ".join(f"{row['admin_ready'][name] / 2**20:.1f}->"
                              f"{row['admin_traffic'][name] / 2**20:.1f}"
                              for name in ADMIN_MEMORY_FIELDS)
            lines.append(f"  {labels[key]:28} " + "  ".join(
                f"{value / 1024:7.1f} ({extra / 1024:+6.1f})" for value, extra in rss)
                + f"     {admin}")
    cpu = figures.get("cpu")
    if cpu:
        lines += ["", "Envoy CPU per request, median of batches [min..max] (us)  per request"
                  "      added"]
        for key, row in cpu.items():
            low, high = row["us_range"]
            lines.append(f"  {labels[key]:40} {row['us']:7.1f} [{low:.0f}..{high:.0f}]"
                         f"  {added(cpu, key, 'us'):+8.1f}")
    lines += ["", "targets (issue 8)", format_verdicts(verdicts)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2 rounds, 300 requests (ratios are not evidence)")
    parser.add_argument("--only", action="append", choices=PHASES,
                        help="run only this phase (repeatable); sizes are always reported")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures here")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; quick 2)")
    parser.add_argument("--requests", type=int,
                        help="measured requests per CPU sample (default 3000; quick 300)")
    args = parser.parse_args()
    settings = settings_from(args)
    phases = set(args.only or PHASES)
    figures: dict[str, Any] = {
        "settings": {"rounds": settings.rounds, "requests": settings.requests,
                     "warmup": settings.warmup, "traffic": settings.traffic,
                     "phases": [phase for phase in PHASES if phase in phases]},
        "load_average": [round(os.getloadavg()[0], 2)],
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="meshwasm-lean-") as scratch:
        modules = build_modules(Path(scratch), phases)
        named = {"hello": modules.hello, "hello_trimmed": modules.hello_trimmed,
                 **modules.filters}
        if modules.baseline is not None:
            named["baseline"] = modules.baseline
        figures["sizes"] = {name: module_sizes(path) for name, path in named.items()}
        labels: dict[str, str] = {}
        with run_upstream(UpstreamResponse(body=b"ok")) as upstream:
            if phases & {"startup", "memory"}:
                variants = hello_variants(upstream.port, modules, settings.traffic)
                labels.update({variant.key: variant.label for variant in variants})
                traffic = "memory" in phases
                samples = interleaved(variants, settings.rounds, startup_sample(traffic))
                if "startup" in phases:
                    figures["startup"] = summarize(samples, ("ready_s", "first_request_s"))
                if traffic:
                    figures["memory"] = summarize(samples, (
                        "rss_ready_kib", "rss_traffic_kib", "admin_ready", "admin_traffic"))
            if "cpu" in phases:
                progress("making tokens")
                variants = cpu_variants(upstream.port, modules, settings)
                labels.update({variant.key: variant.label for variant in variants})
                figures["cpu"] = summarize(cpu_samples(variants, upstream.port, settings),
                                           ("us",))
    figures["load_average"].append(round(os.getloadavg()[0], 2))
    figures["seconds"] = round(time.monotonic() - started, 1)
    verdicts = evaluate(figures)
    figures["targets"] = [verdict.as_dict() for verdict in verdicts]
    print(report(figures, labels, verdicts))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

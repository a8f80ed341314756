"""Soak: many requests, a share of them hostile, through each shipped filter alone and through
the chain jwt_authn -> rate_limit -> fault, in a real Envoy with 2 workers (loopback).  A
benchmark, not a test: it reports, it asserts nothing.

Per target: statuses per request kind (benign / hostile), requests that got no answer, Wasm
VM failures (Envoy's log lines), Envoy's ``wasm`` stats (VMs created and active, the
``vm_reload*`` counters, the filters' own metrics), Envoy's RSS every ``--sample-every``
requests, and Envoy's and the clients' CPU per request.  The traffic is ``soak_traffic``'s, seeded,
so two runs send the same requests.  Envoy's stream idle timeout is cut to 250 ms so that a
delay the fault filter holds for good ends soon.

There is no upstream: the route answers 200 itself (``direct_response``) once the filters let
a request through, so they see every request and response callback while the machine's CPU
goes to the filters rather than to a second hop (on this 2-core VM a loopback hop costs about
as much as a filter).  The load comes from ``soak_client``: ``fast`` (client processes, each
driving keep-alive connections from a selectors loop) by default, ``simple`` (the first
client: http.client, one request at a time per thread) to compare against it.

    python bench/soak.py [--requests N] [--hostile-share F] [--targets a,b] [--client fast]
    python bench/soak.py --requests 1000000      # the full soak
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from meshwasm.builder.pipeline import build_filter
from meshwasm.deploy.envoy.chain import chain_bootstrap
from meshwasm.deploy.envoy.config import EnvoyOptions, bootstrap
from meshwasm.deploy.envoy.process import EnvoyProcess, start_envoy
from meshwasm.deploy.istio.plugin_chain import ChainPlugin

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(HERE))
from envoy_load import cpu_ns, rss_kib  # noqa: E402
from soak_client import Tally, run_fast, run_simple, status_label  # noqa: E402
from soak_traffic import CHAIN, CHAIN_TARGET, TargetLoad, target_loads  # noqa: E402

IDLE_TIMEOUT_SECONDS = 0.25
NO_UPSTREAM = 1  # EnvoyOptions wants a port; the soaked Envoy's route answers itself
#: Envoy log lines that mean a Wasm VM failed or a plugin broke
VM_FAILURE = re.compile(r"Function: \S+ failed|VM failed|wasm.*(crash|abort)|Plugin .* failed",
                        re.IGNORECASE)
#: the filters' own log lines are not needed (a soak would write gigabytes of them); Envoy's
#: wasm component still logs VM failures at error level
WASM_LOG_LEVEL = "warning"


def answer_directly(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with its route answering 200 itself (``direct_response``) instead of
    proxying: the filters still see every request and response callback."""
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"]
    route = hcm["route_config"]["virtual_hosts"][0]["routes"][0]
    del route["route"]
    route["direct_response"] = {"status": 200, "body": {"inline_string": "soaked\n"}}
    config["static_resources"]["clusters"] = []
    return config


def target_bootstrap(target: str, modules: dict[str, Path],
                     load: TargetLoad) -> tuple[EnvoyOptions, dict[str, Any]]:
    """The soaked Envoy: 2 workers, one filter or the chain (built as ``replay`` builds it),
    answering every request that passes them itself."""
    options = EnvoyOptions(upstream_port=NO_UPSTREAM, workers=2,
                           stream_idle_timeout_seconds=IDLE_TIMEOUT_SECONDS)
    if target == CHAIN_TARGET:
        chain = [ChainPlugin(name, modules[name], json.dumps(load.configs[name]).encode())
                 for name in CHAIN]
        return options, answer_directly(chain_bootstrap(options, chain, b""))
    (name, config), = load.configs.items()
    options = EnvoyOptions(upstream_port=NO_UPSTREAM, workers=2, module=modules[name],
                           plugin_config=json.dumps(config).encode(),
                           stream_idle_timeout_seconds=IDLE_TIMEOUT_SECONDS)
    return options, answer_directly(bootstrap(options))


def wasm_stats(envoy: EnvoyProcess) -> dict[str, int]:
    answer = json.loads(envoy.admin("/stats?format=json&filter=^wasm"))
    return {stat["name"]: int(stat.get("value", 0)) for stat in answer.get("stats", [])
            if "value" in stat}


def soak_one(target: str, modules: dict[str, Path], load: TargetLoad,
             args: argparse.Namespace) -> dict[str, Any]:
    """Drive ``args.requests`` through ``target`` in Envoy (2 workers); return the figures."""
    options, config = target_bootstrap(target, modules, load)
    with start_envoy(options, config=config, wasm_log_level=WASM_LOG_LEVEL,
                     ready_timeout=60.0) as envoy:
        rss = [(0, rss_kib(envoy.pid))]

        def sample(answered: int) -> None:
            if answered >= rss[-1][0] + args.sample_every and envoy.process.poll() is None:
                rss.append((answered, rss_kib(envoy.pid)))
                print(f"   {target}: {answered} answered in {time.monotonic() - started:.0f} s,"
                      f" RSS {rss[-1][1] / 1024:.0f} MiB", flush=True)

        started, envoy_cpu = time.monotonic(), cpu_ns(envoy.pid)
        clients_cpu = _children_cpu()
        if args.client == "fast":
            tally = run_fast(envoy.listener_port, load, args.requests, args.hostile_share,
                             args.seed, args.processes, args.connections,
                             sample)
        else:
            tally = run_simple(envoy.listener_port, load, args.requests,
                               args.hostile_share, args.seed, args.processes, sample)
        seconds = time.monotonic() - started
        cpu = {"envoy": cpu_ns(envoy.pid) - envoy_cpu,
               "clients": _children_cpu() - clients_cpu}
        alive = envoy.process.poll() is None
        sent = sum(tally.values())
        if alive:
            rss.append((sent, rss_kib(envoy.pid)))
        log = envoy.read_log(0)[0]
        failures = [line for line in log.splitlines() if VM_FAILURE.search(line)]
        stats = wasm_stats(envoy) if alive else {}
    return report(target, tally, seconds, rss, failures, stats, alive, cpu)


def _children_cpu() -> int:
    """CPU (ns) of this process and its ended children: the client processes' share (a
    ``simple`` client's threads run in this process)."""
    times = os.times()
    return int((times.user + times.system + times.children_user + times.children_system) * 1e9)


def report(target: str, tally: Tally, seconds: float, rss: list[tuple[int, int]],
           failures: list[str], stats: dict[str, int], alive: bool,
           cpu: dict[str, int]) -> dict[str, Any]:
    kinds = requests_by_kind(tally)
    return {"target": target, "requests": sum(tally.values()), "hostile": kinds["hostile"],
            "seconds": round(seconds, 1),
            "statuses": {f"{kind} {status_label(status)}": count
                         for (kind, status), count in sorted(tally.items())},
            "vm_failure_lines": len(failures), "first_failures": failures[:3],
            "cpu_us_per_request": {name: round(ns / 1e3 / max(sum(tally.values()), 1), 1)
                                   for name, ns in cpu.items()},
            "wasm_stats": stats, "rss_kib": rss, "envoy_alive_at_end": alive}


def requests_by_kind(tally: Tally) -> dict[str, int]:
    kinds = {"benign": 0, "hostile": 0}
    for (kind, _), count in tally.items():
        kinds[kind] += count
    return kinds


def print_result(result: dict[str, Any]) -> None:
    print(f"\n== {result['target']}: {result['requests']} requests "
          f"({result['hostile']} hostile) in {result['seconds']} s, "
          f"{result['requests'] / max(result['seconds'], 1e-9):.0f}/s")
    for label, count in result["statuses"].items():
        print(f"   {label:<16} {count}")
    print(f"   VM failure lines in Envoy's log: {result['vm_failure_lines']}"
          + (f" (first: {result['first_failures'][0]})" if result["first_failures"] else ""))
    print("   CPU us per request: " + ", ".join(
        f"{name} {us}" for name, us in result["cpu_us_per_request"].items()))
    for name, value in result["wasm_stats"].items():
        print(f"   {name}: {value}")
    print("   RSS MiB at requests: " + ", ".join(
        f"{sent}: {kib / 1024:.0f}" for sent, kib in result["rss_kib"]))
    if not result["envoy_alive_at_end"]:
        print("   ENVOY WAS NOT RUNNING AT THE END")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000, help="per target")
    parser.add_argument("--hostile-share", type=float, default=0.12)
    parser.add_argument("--targets", default=",".join(target_loads()),
                        help="filters and/or 'chain', comma-separated")
    parser.add_argument("--client", choices=("fast", "simple"), default="fast")
    parser.add_argument("--processes", type=int, default=2,
                        help="client processes (fast) or threads (simple)")
    parser.add_argument("--connections", type=int, default=32,
                        help="connections per client process (fast)")
    parser.add_argument("--sample-every", type=int, default=100_000,
                        help="requests between two RSS samples")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    loads = target_loads()
    targets = args.targets.split(",")
    unknown = [target for target in targets if target not in loads]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(loads)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="meshwasm-soak-") as scratch:
        needed = {name for target in targets for name in loads[target].configs}
        modules = {name: build_filter(PROJECT / "filters" / name / "filter.py",
                                      Path(scratch) / f"{name}.wasm").output
                   for name in sorted(needed)}
        for target in targets:
            result = soak_one(target, modules, loads[target], args)
            results.append(result)
            print_result(result)
            if args.json:  # after each target: a long soak keeps what it measured
                args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CPU that a filter adds to each request in a real Envoy (one worker), measured in one run
against peers: no filter, the raw-ABI C filter, the compiled Python filter, and for a shipped
filter Envoy's native counterpart with the same configuration.

Envoy's CPU time is read from /proc (every thread's schedstat, in ns) around a bounded loop
of keep-alive requests on loopback (``envoy_load.serial_cpu_us``), so the client's own cost
is not counted.  ``--scenario`` takes a filter, its configuration and request headers from
``guest_instructions.SCENARIOS`` (the rate limiter not limiting, fault with no fault headers,
jwt_authn with a token it has cached): the same requests the deterministic measure counts.

    python bench/request_cost.py [FILTER.py | --scenario NAME] [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from meshwasm.builder.pipeline import build_filter
from meshwasm_testkit.raw_c_filter import compile_raw_c_filter
from meshwasm_testkit.native_peers import native_bootstrap
from meshwasm.deploy.envoy.config import EnvoyOptions
from meshwasm.deploy.envoy.process import start_envoy
from meshwasm.deploy.envoy.upstream import run_upstream
from meshwasm.replay.model import UpstreamResponse

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(PROJECT))
from envoy_load import serial_cpu_us  # noqa: E402
from guest_instructions import SCENARIOS, Scenario  # noqa: E402

WARMUP = 200  # requests before the measured ones: connection pools, V8 tiers, caches


def per_request_us(options: EnvoyOptions, bootstrap: dict[str, Any] | None, requests: int,
                   path: str, headers: dict[str, str]) -> float:
    with start_envoy(options, config=bootstrap, wasm_log_level="error") as envoy:
        return serial_cpu_us(envoy, [(path, headers)] * requests, [(path, headers)] * WARMUP)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filter", nargs="?", type=Path,
                        default=PROJECT / "examples" / "hello" / "filter.py")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--path", default="/products")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds; each figure is the median over rounds")
    args = parser.parse_args()
    scenario = SCENARIOS[args.scenario] if args.scenario else Scenario(args.filter, b"x")
    headers = {name: value.decode() for name, value in scenario.request_headers.items()}
    with tempfile.TemporaryDirectory() as scratch, \
            run_upstream(UpstreamResponse(body=b"ok")) as upstream:
        work = Path(scratch)
        python_module = build_filter(scenario.filter, work / "filter.wasm").output
        c_module = compile_raw_c_filter(PROJECT / "runtime_tests" / "other_sdk" / "hello_c.c",
                                        work / "hello_c.wasm")
        plain = EnvoyOptions(upstream_port=upstream.port, plugin_config=b"x")
        peers: dict[str, tuple[EnvoyOptions, dict[str, Any] | None]] = {
            "no filter": (plain, None),
            "C filter": (EnvoyOptions(upstream_port=upstream.port, module=c_module,
                                      plugin_config=b"x"), None),
            "python filter": (EnvoyOptions(upstream_port=upstream.port, module=python_module,
                                           plugin_config=scenario.config), None),
        }
        if args.scenario and args.scenario != "hello":
            peers["native filter"] = (plain, native_bootstrap(plain, args.scenario,
                                                              json.loads(scenario.config)))
        samples: dict[str, list[float]] = {name: [] for name in peers}
        for _ in range(args.rounds):  # interleaved, so drifts in machine load hit all alike
            for name, (options, bootstrap) in peers.items():
                samples[name].append(per_request_us(options, bootstrap, args.requests,
                                                    args.path, headers))
    median = {name: statistics.median(values) for name, values in samples.items()}
    baseline = median["no filter"]
    print(f"Envoy CPU per request ({args.requests} requests x {args.rounds} rounds, median; "
          f"1 worker, keep-alive; {args.scenario or scenario.filter.name}):")
    for name, values in samples.items():
        # Each round is a fresh Envoy; on a small VM instances differ by tens of us, so a
        # difference smaller than this spread is not a measurement.
        added = "" if name == "no filter" else f"  (+{median[name] - baseline:.1f} us)"
        print(f"  {name:14} {median[name]:7.1f} us{added}  [{min(values):.0f}..{max(values):.0f}]")
    added_python = median["python filter"] - baseline
    for peer in ("C filter", "native filter"):
        if peer in median:
            print(f"  added cost, python / {peer}: "
                  f"{added_python / max(median[peer] - baseline, 0.1):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

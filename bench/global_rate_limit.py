"""The global rate limit in a real Envoy (loopback, 1 worker), measured in one run against its
peer: Envoy's native ``envoy.filters.http.ratelimit`` and filters/rate_limit's global mode,
both asking the same rate-limit service (``meshwasm_testkit.rate_limit_service``, grpcio, limits
never reached) one ShouldRateLimit per request; no filter as the floor.  Each gets the same
keep-alive load from ``--concurrency`` client threads.

Reported: client-side latency p50/p99 (the service's own time included: it is the same for
both) and Envoy CPU per request (the service runs in this process and is not counted), and
our filter's ratios to the native one.

    python bench/global_rate_limit.py [--requests N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from meshwasm.builder.pipeline import build_filter
from meshwasm.deploy.envoy.config import EnvoyOptions
from meshwasm.deploy.envoy.process import start_envoy
from meshwasm_testkit.native_peers import native_bootstrap
from meshwasm_testkit.rate_limit_service import RateLimitService, Rule, run_rate_limit_service
from meshwasm.deploy.envoy.upstream import run_upstream
from meshwasm.replay.model import UpstreamResponse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from envoy_load import print_load_report, run_load  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
CONFIG: dict[str, Any] = {
    "stat_prefix": "bench",
    "global": {"domain": "bench", "cluster": "ratelimit", "timeout_ms": 1000,
               "rate_limits": [{"actions": [{"request_headers": {
                   "header_name": "x-user", "descriptor_key": "user"}}]}]},
}
RULES = [Rule((("user", None),), 1_000_000_000, unit="HOUR")]


def measure(module: Path | None, native: bool, service: RateLimitService, requests: int,
            concurrency: int) -> dict[str, float]:
    service.reset()
    with run_upstream(UpstreamResponse(body=b"ok")) as upstream:
        options = EnvoyOptions(upstream_port=upstream.port, module=module,
                               plugin_config=json.dumps(CONFIG).encode(),
                               grpc_clusters=(("ratelimit", service.port),))
        bootstrap = native_bootstrap(options, "rate_limit", CONFIG) if native else None
        with start_envoy(options, config=bootstrap, wasm_log_level="error") as envoy:
            run_load(envoy.listener_port, envoy.pid, [[("/bench", {"x-user": "warm"})] * 300])
            per_client = requests // concurrency
            load = [[("/bench", {"x-user": f"user{index % 4}"})] * per_client
                    for index in range(concurrency)]
            result = run_load(envoy.listener_port, envoy.pid, load)
            if set(result.statuses) != {200}:
                raise SystemExit(f"unexpected statuses {sorted(set(result.statuses))}")
            return result.as_row()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, run_rate_limit_service(RULES) as service:
        ours = build_filter(PROJECT / "filters" / "rate_limit" / "filter.py",
                            Path(scratch) / "rate_limit.wasm").output
        rows = {
            "no filter": measure(None, False, service, args.requests, args.concurrency),
            "native ratelimit": measure(None, True, service, args.requests, args.concurrency),
            "meshwasm global": measure(ours, False, service, args.requests, args.concurrency),
        }
    print_load_report(f"{args.requests} requests, {args.concurrency} keep-alive clients, "
                      "1 Envoy worker", rows, floor="no filter", peer="native ratelimit",
                      ours="meshwasm global")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Rate limiting in a real Envoy (loopback, 1 worker), measured in one run against peers:
no filter, Envoy's native local_ratelimit, a Lua filter doing a comparable check (one counter
per x-user value), and filters/rate_limit compiled.  Each gets the same keep-alive load from
``--concurrency`` client threads; the buckets never empty, so every request takes a token.

Reported: client-side latency p50/p99 and Envoy CPU per request (every thread's schedstat from
/proc, so the clients' cost is not counted), and our filter's ratios to the Lua filter.

    python bench/rate_limit.py [--requests N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from meshwasm.builder.pipeline import build_filter
from meshwasm_testkit import native_peers
from meshwasm.deploy.envoy.config import EnvoyOptions
from meshwasm.deploy.envoy.process import start_envoy
from meshwasm.deploy.envoy.upstream import run_upstream
from meshwasm.replay.model import UpstreamResponse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from envoy_load import print_load_report, run_load  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
CONFIG = {
    "stat_prefix": "bench",
    "limits": [{"name": "per_user", "key": {"header": "x-user"},
                "token_bucket": {"max_tokens": 1_000_000_000, "tokens_per_fill": 1_000_000_000,
                                 "fill_interval": "1s"}}],
}
LUA = """
local counts = {}
function envoy_on_request(handle)
  local user = handle:headers():get("x-user")
  if user == nil then return end
  local seen = (counts[user] or 0) + 1
  counts[user] = seen
  if seen > 1000000000 then
    handle:respond({[":status"] = "429"}, "local_rate_limited")
  end
end
"""


def measure(label: str, module: Path | None, native: str | None, requests: int,
            concurrency: int) -> dict[str, float]:
    with run_upstream(UpstreamResponse(body=b"ok")) as upstream:
        options = EnvoyOptions(upstream_port=upstream.port, module=module,
                               plugin_config=json.dumps(CONFIG).encode())
        bootstrap = None
        if native == "local_ratelimit":
            bootstrap = native_peers.native_bootstrap(options, "rate_limit", CONFIG)
        elif native == "lua":
            bootstrap = native_peers.lua(options, LUA)
        with start_envoy(options, config=bootstrap, wasm_log_level="error") as envoy:
            run_load(envoy.listener_port, envoy.pid, [[("/bench", {"x-user": "warm"})] * 300])
            per_client = requests // concurrency
            load = [[("/bench", {"x-user": f"user{index % 4}"})] * per_client
                    for index in range(concurrency)]
            return run_load(envoy.listener_port, envoy.pid, load).as_row()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        ours = build_filter(PROJECT / "filters" / "rate_limit" / "filter.py",
                            Path(scratch) / "rate_limit.wasm").output
        rows = {
            "no filter": measure("none", None, None, args.requests, args.concurrency),
            "native local_ratelimit": measure("native", None, "local_ratelimit", args.requests,
                                              args.concurrency),
            "lua counter": measure("lua", None, "lua", args.requests, args.concurrency),
            "meshwasm rate_limit": measure("ours", ours, None, args.requests, args.concurrency),
        }
    print_load_report(f"{args.requests} requests, {args.concurrency} keep-alive clients, "
                      "1 Envoy worker", rows, floor="no filter", peer="lua counter",
                      ours="meshwasm rate_limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())

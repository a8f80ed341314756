"""Soak: many requests, a share of them hostile, through each shipped filter alone in a real
Envoy with 2 workers (loopback).  A benchmark, not a test: it reports, it asserts nothing.

Per filter: statuses per request kind (benign / hostile), requests that got no answer, Wasm
VM failures (Envoy's log lines and ``wasm`` stats), and Envoy's RSS every ``--sample-every``
requests.  Hostile requests come from ``runtime_tests/hostile_corpus.py`` (the pools the
property-based tests draw from), seeded, so two runs send the same traffic.  Envoy's stream
idle timeout is cut to 250 ms so that a delay the fault filter holds for good ends soon.

    python bench/soak.py [--requests N] [--hostile-share F] [--filters a,b] [--clients C]
    python bench/soak.py --requests 1000000      # the full soak (hours on a small machine)
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshwasm.builder.pipeline import build_filter
from meshwasm.deploy.envoy.echo_upstream import run_echo_upstream
from meshwasm.deploy.envoy.config import EnvoyOptions, bootstrap
from meshwasm.deploy.envoy.process import EnvoyProcess, start_envoy

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(PROJECT))
from envoy_load import rss_kib  # noqa: E402

from runtime_tests import hostile_corpus  # noqa: E402
from runtime_tests.jwt_authn.tokens import KeySet, make_token  # noqa: E402

Headers = list[tuple[str, str]]
ISSUER = "https://issuer.example"
IDLE_TIMEOUT = "0.25s"
NO_ANSWER = 0  # the connection failed or closed before a response
UNSENDABLE = -1  # the client library refused to send the request
#: Envoy log lines that mean a Wasm VM failed or a plugin broke
VM_FAILURE = re.compile(r"Function: \S+ failed|VM failed|wasm.*(crash|abort)|Plugin .* failed",
                        re.IGNORECASE)


@dataclass
class FilterLoad:
    """A filter's configuration and how to make a benign request for it."""

    config: dict[str, Any]
    benign: Callable[[random.Random], Headers]


def _filter_loads() -> dict[str, FilterLoad]:
    keys = KeySet()
    tokens = [make_token(keys, {"kid": "rsa1", "claims": {"iss": ISSUER, "sub": f"user{i}",
                                                          "exp": "+86400"}})
              for i in range(32)]
    jwt_config = {"providers": {"soak": {
        "issuer": ISSUER, "local_jwks": {"inline_string": json.dumps(keys.jwks())},
        "claim_to_headers": [{"header_name": "x-jwt-sub", "claim_name": "sub"}]}},
        "rules": [{"prefix": "/"}]}
    rate_config = {"stat_prefix": "soak", "limits": [{
        "name": "per_user", "key": {"header": "x-user"},
        "token_bucket": {"max_tokens": 1000, "tokens_per_fill": 1000, "fill_interval": "1s"}}]}
    fault_config = {"abort": {"header_abort": {}, "percentage": {"numerator": 100}},
                    "delay": {"header_delay": {}, "percentage": {"numerator": 100}},
                    "max_active_faults": 4}
    return {
        "jwt_authn": FilterLoad(jwt_config, lambda rng: [
            ("authorization", "Bearer " + rng.choice(tokens))]),
        "rate_limit": FilterLoad(rate_config, lambda rng: [("x-user", f"user{rng.randrange(50)}")]),
        "fault": FilterLoad(fault_config, lambda rng: [("x-request-kind", "plain")]),
    }


@dataclass
class Tally:
    """What the clients saw, shared by their threads."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, status: int) -> None:
        with self.lock:
            self.statuses[(kind, status)] += 1
            self.sent += 1


def _client(port: int, requests: int, seed: int, hostile_share: float, load: FilterLoad,
            hostile: Callable[[random.Random], Headers], tally: Tally) -> None:
    """Send ``requests`` on a keep-alive connection, a new one after any error
    (``NO_ANSWER``, ``UNSENDABLE``)."""
    rng = random.Random(seed)
    connection: http.client.HTTPConnection | None = None
    for _ in range(requests):
        kind = "hostile" if rng.random() < hostile_share else "benign"
        headers = (hostile if kind == "hostile" else load.benign)(rng)
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.putrequest("GET", f"/soak/{rng.randrange(1000)}",
                                  skip_accept_encoding=True)
            for name, value in headers:  # as UTF-8 bytes: http.client sends them untouched
                connection.putheader(name, value.encode("utf-8"))
            connection.endheaders()
            response = connection.getresponse()
            response.read()
            status = response.status
            if response.will_close:
                connection.close()
                connection = None
        except (ValueError, UnicodeEncodeError):
            status = UNSENDABLE  # http.client refused the header: nothing went out
            if connection is not None:
                connection.close()
            connection = None
        except (OSError, http.client.HTTPException):
            status = NO_ANSWER
            if connection is not None:
                connection.close()
            connection = None
        tally.add(kind, status)
    if connection is not None:
        connection.close()


def _status_label(status: int) -> str:
    return {NO_ANSWER: "no answer", UNSENDABLE: "unsendable"}.get(status, str(status))


def _wasm_stats(envoy: EnvoyProcess) -> dict[str, int]:
    answer = json.loads(envoy.admin("/stats?format=json&filter=wasm"))
    return {stat["name"]: int(stat.get("value", 0)) for stat in answer.get("stats", [])
            if "value" in stat}


def soak_one(name: str, module: Path, load: FilterLoad, requests: int, hostile_share: float,
             clients: int, sample_every: int, seed: int) -> dict[str, Any]:
    """Drive ``requests`` through ``module`` in Envoy (2 workers); return the figures."""
    with run_echo_upstream() as upstream_port:
        options = EnvoyOptions(upstream_port=upstream_port, module=module, workers=2,
                               plugin_config=json.dumps(load.config).encode())
        config = bootstrap(options)
        hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        hcm["typed_config"]["stream_idle_timeout"] = IDLE_TIMEOUT
        with start_envoy(options, config=config) as envoy:
            tally = Tally()
            share = [requests // clients + (i < requests % clients) for i in range(clients)]
            threads = [threading.Thread(target=_client, args=(
                envoy.listener_port, count, seed * 1000 + i, hostile_share, load,
                hostile_corpus.HOSTILE[name], tally)) for i, count in enumerate(share)]
            rss = [(0, rss_kib(envoy.pid))]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads):
                time.sleep(0.2)
                if tally.sent >= rss[-1][0] + sample_every:
                    rss.append((tally.sent, rss_kib(envoy.pid)))
            for thread in threads:
                thread.join()
            seconds = time.monotonic() - started
            rss.append((tally.sent, rss_kib(envoy.pid)))
            log = envoy.read_log(0)[0]
            failures = [line for line in log.splitlines() if VM_FAILURE.search(line)]
            stats = _wasm_stats(envoy)
            alive = envoy.process.poll() is None
    return {"filter": name, "requests": tally.sent, "seconds": round(seconds, 1),
            "statuses": {f"{kind} {_status_label(status)}": count
                         for (kind, status), count in sorted(tally.statuses.items())},
            "vm_failure_lines": len(failures), "first_failures": failures[:3],
            "wasm_stats": stats, "rss_kib": rss, "envoy_alive_at_end": alive}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000, help="per filter")
    parser.add_argument("--hostile-share", type=float, default=0.12)
    parser.add_argument("--filters", default="jwt_authn,rate_limit,fault")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--sample-every", type=int, default=100_000,
                        help="requests between two RSS samples")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    loads = _filter_loads()
    results = []
    with tempfile.TemporaryDirectory(prefix="meshwasm-soak-") as scratch:
        for name in args.filters.split(","):
            module = build_filter(PROJECT / "filters" / name / "filter.py",
                                  Path(scratch) / f"{name}.wasm").output
            result = soak_one(name, module, loads[name], args.requests, args.hostile_share,
                              args.clients, args.sample_every, args.seed)
            results.append(result)
            print(f"\n== {name}: {result['requests']} requests in {result['seconds']} s, "
                  f"{result['requests'] / max(result['seconds'], 1e-9):.0f}/s")
            for label, count in result["statuses"].items():
                print(f"   {label:<16} {count}")
            print(f"   VM failure lines in Envoy's log: {result['vm_failure_lines']}"
                  + (f" (first: {result['first_failures'][0]})" if result["first_failures"]
                     else ""))
            print("   RSS MiB at requests: " + ", ".join(
                f"{sent}: {kib / 1024:.0f}" for sent, kib in result["rss_kib"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

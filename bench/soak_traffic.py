"""The soak's traffic: for each target (a shipped filter alone, or the chain jwt_authn ->
rate_limit -> fault) its configuration, how to make a benign and a hostile request, and one
seeded request stream per client, encoded once as the bytes an HTTP/1.1 client sends.

Hostile requests come from ``runtime_tests/hostile_corpus.py`` (the pools the property-based
tests draw from), so a troublemaker found by hypothesis is sent by the soak too.  Both soak
clients (``soak_client``) read the same stream for a seed, so their statuses compare.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
from runtime_tests import hostile_corpus  # noqa: E402
from runtime_tests.jwt_authn.tokens import KeySet, make_token  # noqa: E402

Headers = list[tuple[str, str]]
ISSUER = "https://issuer.example"
#: the chain's order, as ``replay`` and ``deploy/envoy_chain.py`` build it
CHAIN = ("jwt_authn", "rate_limit", "fault")
CHAIN_TARGET = "chain"
#: the header jwt_authn writes from the token's ``sub``; the chain's rate_limit keys on it
SUBJECT_HEADER = "x-jwt-sub"


@dataclass(frozen=True)
class Request:
    kind: str  # "benign" or "hostile"
    path: str
    headers: Headers


@dataclass
class TargetLoad:
    """A soak target: each plugin's configuration (in chain order) and its requests."""

    configs: dict[str, dict[str, Any]]
    benign: Callable[[random.Random], Headers]
    hostile: Callable[[random.Random], Headers]


def _jwt_config(keys: KeySet) -> dict[str, Any]:
    return {"providers": {"soak": {
        "issuer": ISSUER, "local_jwks": {"inline_string": json.dumps(keys.jwks())},
        "claim_to_headers": [{"header_name": SUBJECT_HEADER, "claim_name": "sub"}]}},
        "rules": [{"prefix": "/"}]}


def _rate_config(key_header: str) -> dict[str, Any]:
    return {"stat_prefix": "soak", "limits": [{
        "name": "per_user", "key": {"header": key_header},
        "token_bucket": {"max_tokens": 1000, "tokens_per_fill": 1000, "fill_interval": "1s"}}]}


FAULT_CONFIG = {"abort": {"header_abort": {}, "percentage": {"numerator": 100}},
                "delay": {"header_delay": {}, "percentage": {"numerator": 100}},
                "max_active_faults": 4}


def target_loads() -> dict[str, TargetLoad]:
    """Every soak target by name: the three filters and ``CHAIN_TARGET``."""
    keys = KeySet()
    tokens = [make_token(keys, {"kid": "rsa1", "claims": {"iss": ISSUER, "sub": f"user{i}",
                                                          "exp": "+86400"}})
              for i in range(32)]

    def bearer(rng: random.Random) -> Headers:
        return [("authorization", "Bearer " + rng.choice(tokens))]

    def chain_hostile(rng: random.Random) -> Headers:
        """A hostile request aimed at one plugin of the chain; the others see a valid
        token.  Rate-limit keys arrive as a forged ``x-jwt-sub`` that jwt_authn must
        overwrite from the token."""
        aimed = rng.choice(CHAIN)
        if aimed == "jwt_authn":
            return hostile_corpus.hostile_jwt_headers(rng)
        if aimed == "rate_limit":
            return bearer(rng) + [(SUBJECT_HEADER, value) for _, value in
                                  hostile_corpus.hostile_rate_limit_headers(rng)]
        return bearer(rng) + hostile_corpus.hostile_fault_headers(rng)

    jwt_config = _jwt_config(keys)
    return {
        "jwt_authn": TargetLoad({"jwt_authn": jwt_config}, bearer,
                                hostile_corpus.HOSTILE["jwt_authn"]),
        "rate_limit": TargetLoad({"rate_limit": _rate_config("x-user")},
                                 lambda rng: [("x-user", f"user{rng.randrange(50)}")],
                                 hostile_corpus.HOSTILE["rate_limit"]),
        "fault": TargetLoad({"fault": FAULT_CONFIG}, lambda rng: [("x-request-kind", "plain")],
                            hostile_corpus.HOSTILE["fault"]),
        CHAIN_TARGET: TargetLoad({"jwt_authn": jwt_config,
                                  "rate_limit": _rate_config(SUBJECT_HEADER),
                                  "fault": FAULT_CONFIG}, bearer, chain_hostile),
    }


def requests(load: TargetLoad, seed: int, count: int, hostile_share: float) -> Iterator[Request]:
    """``count`` requests drawn from ``random.Random(seed)``: the same seed, the same stream."""
    rng = random.Random(seed)
    for _ in range(count):
        kind = "hostile" if rng.random() < hostile_share else "benign"
        headers = (load.hostile if kind == "hostile" else load.benign)(rng)
        yield Request(kind, f"/soak/{rng.randrange(1000)}", headers)


def client_shares(total: int, clients: int) -> list[int]:
    """``total`` requests split over ``clients`` as evenly as possible."""
    return [total // clients + (i < total % clients) for i in range(clients)]


def encode(request: Request, authority: str) -> bytes | None:
    """The request as an HTTP/1.1 client sends it (header values as UTF-8, as ``http.client``
    sends ``bytes``), or None when no client may send it (CR or LF in a header)."""
    lines = [f"GET {request.path} HTTP/1.1", f"Host: {authority}"]
    for name, value in request.headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            return None
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

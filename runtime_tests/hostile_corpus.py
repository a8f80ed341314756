"""Hostile inputs for the shipped filters, shared by the property-based tests (as hypothesis
strategies) and the soak benchmark (``bench/soak.py``, drawn from a seeded ``random``).

Each request kind is a function of a ``random.Random`` returning headers; the pools of known
troublemakers (values Envoy parses unusually, integers at the edges, forged tokens) are plain
lists, so a failure found by hypothesis can be added here and the soak sends it too.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable

from hypothesis import strategies as st

Headers = list[tuple[str, str]]

#: integers at the edges of what Envoy's SimpleAtoi and the ABI's u32/u64 carry, and text
#: that looks numeric to someone
EDGE_NUMBERS = ["0", "1", "4294967295", "4294967296", "9223372036854775807",
                "9223372036854775808", "18446744073709551615", "18446744073709551616",
                "-1", "+0", " 503 ", "5e2", "0x1f", "٣", "", "1" * 40]
#: header bytes an HTTP/1 client can send (visible ASCII, space, tab, some latin-1)
_HEADER_CHARS = string.ascii_letters + string.digits + string.punctuation + " \t" + "éÿ"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def random_header_value(rng: random.Random, longest: int = 64) -> str:
    return "".join(rng.choice(_HEADER_CHARS) for _ in range(rng.randint(0, longest))).strip()


def _segment(document: object | str) -> str:
    text = document if isinstance(document, str) else json.dumps(document)
    return b64url(text.encode())


#: tokens no verifier may accept, whatever its keys: malformed, unsigned, forged, ambiguous
FORGED_TOKENS = [
    "", ".", "..", "a.b", "a.b.c.d", "not a token", "Bearer", "%%%.%%%.%%%",
    _segment({"alg": "none"}) + "." + _segment({"sub": "root"}) + ".",
    _segment('{"alg":"none","alg":"RS256"}') + "." + _segment({"sub": "x"}) + ".c2ln",
    _segment({"alg": "RS256", "kid": "rsa1"}) + "." + _segment('{"exp":1e300}') + ".c2ln",
    _segment({"alg": "RS256", "kid": "rsa1"}) + "." + _segment({"exp": 2**64}) + ".c2ln",
    _segment({"alg": "RS256", "kid": "rsa1"}) + "=." + _segment({"sub": "x"}) + "=.c2ln==",
    _segment({"alg": "HS256", "kid": "rsa1"}) + "." + _segment({"sub": "x"}) + ".c2ln",
    "x" * 8000 + "." + "y" * 8000 + "." + "z" * 300,
]


def random_token(rng: random.Random) -> str:
    """Three segments of random JSON-ish or random bytes: parse errors of every kind."""
    def part() -> str:
        if rng.random() < 0.5:
            return b64url(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 80))))
        keys = rng.sample(["alg", "kid", "exp", "nbf", "iss", "aud", "sub", "typ"], 3)
        return _segment({key: rng.choice([None, 1, -1, 1.5, "x", [], {}, 2**70])
                         for key in keys})
    return ".".join(part() for _ in range(rng.choice([2, 3, 3, 3, 4])))


# -- one hostile request per filter: headers only (paths and bodies are the benign ones) ------

def hostile_jwt_headers(rng: random.Random) -> Headers:
    token = rng.choice(FORGED_TOKENS) if rng.random() < 0.5 else random_token(rng)
    scheme = rng.choice(["Bearer ", "bearer ", "Bearer  ", "Basic ", ""])
    return [("authorization", scheme + token)]


def hostile_rate_limit_headers(rng: random.Random) -> Headers:
    """Many distinct keys (each a bucket), odd bytes, and huge values."""
    user = rng.choice([random_header_value(rng), str(rng.getrandbits(64)), "u" * 4000,
                       rng.choice(EDGE_NUMBERS)])
    return [("x-user", user)]


def hostile_fault_headers(rng: random.Random) -> Headers:
    def value() -> str:
        return rng.choice(EDGE_NUMBERS) if rng.random() < 0.6 else random_header_value(rng, 24)
    names = ["x-envoy-fault-abort-request", "x-envoy-fault-abort-grpc-request",
             "x-envoy-fault-abort-request-percentage", "x-envoy-fault-delay-request",
             "x-envoy-fault-delay-request-percentage"]
    return [(name, value()) for name in rng.sample(names, rng.randint(1, len(names)))]


HOSTILE: dict[str, Callable[[random.Random], Headers]] = {
    "jwt_authn": hostile_jwt_headers, "rate_limit": hostile_rate_limit_headers,
    "fault": hostile_fault_headers}


# -- the same pools as hypothesis strategies --------------------------------------------------

def header_values() -> st.SearchStrategy[str]:
    """Edge numbers, or any text an HTTP/1 header can carry."""
    return st.one_of(st.sampled_from(EDGE_NUMBERS),
                     st.text(st.sampled_from(_HEADER_CHARS), max_size=24).map(str.strip))


def tokens() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(FORGED_TOKENS),
                     st.randoms(use_true_random=False).map(random_token))

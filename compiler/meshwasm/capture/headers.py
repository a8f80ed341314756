"""Which captured headers a traffic file keeps, and the secrets it hides by default."""

from __future__ import annotations

from meshwasm.replay.model import Headers

#: added or rewritten by the client's connection or by Envoy on the way: a replay adds its own
REQUEST_DROPPED = frozenset({
    "host", "connection", "keep-alive", "proxy-connection", "content-length",
    "transfer-encoding", "te", "upgrade", "x-forwarded-proto", "x-request-id",
    "x-envoy-expected-rq-timeout-ms", "x-envoy-internal",
})
#: framing, and what the proxy adds to every response (HAR bodies are decoded, so their
#: content-encoding no longer applies)
RESPONSE_DROPPED = frozenset({
    "connection", "keep-alive", "content-length", "transfer-encoding", "date", "server",
    "x-envoy-upstream-service-time", "content-encoding",
})
#: credentials a traffic file should not carry unless asked to
SECRETS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
REDACTED = "REDACTED"


def request_headers(pairs: Headers) -> Headers:
    """Captured request headers minus pseudo-headers and what the connection adds."""
    return [(name, value) for name, value in pairs
            if not name.startswith(":") and name not in REQUEST_DROPPED]


def response_headers(pairs: Headers) -> Headers:
    return [(name, value) for name, value in pairs
            if not name.startswith(":") and name not in RESPONSE_DROPPED]


def redact(pairs: Headers) -> Headers:
    """``pairs`` with the value of every secret header replaced by ``REDACTED``."""
    return [(name, REDACTED if name in SECRETS else value) for name, value in pairs]

"""Checks a token for a provider, in the order Envoy's jwt_authn does, with a bounded cache
of tokens whose signature was already checked.

Order: parse, issuer, time (``nbf``/``exp`` with clock skew), audiences, then the key lookup
and signature.  The cache keeps the parsed token and the signature's outcome, so a repeat
request only re-runs the cheap claim checks (the clock moves; the rule's audiences vary).
"""

from __future__ import annotations

import binascii
import json

from jwt_config import Provider
from jwt_token import (AUDIENCE, EXPIRED, NOT_YET_VALID, UNKNOWN_ISSUER, Failure, Token,
                       audiences_allowed, check_time, parse, verify_signature)

TYPE_CHECKING = False  # not `from typing`: that would bundle typing into the module
if TYPE_CHECKING:
    from typing import Any

NEEDS_KEYS = Failure("keys are being fetched", 0)
"""Returned when the token passed every claim check but the provider has no keys yet."""


class Verified:
    """A token whose signature checked out, with what is forwarded for it."""

    __slots__ = ("token", "claim_headers", "metadata", "invalid_header")

    def __init__(self, token: Token, claim_headers: list[tuple[str, str]],
                 metadata: bytes, invalid_header: str | None = None) -> None:
        self.token = token
        self.claim_headers = claim_headers
        self.metadata = metadata
        #: a claim header whose value no HTTP header may hold (Envoy then answers 503)
        self.invalid_header = invalid_header


def _claim(claims: dict[str, Any], path: str) -> object:
    value: object = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _json_text(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def claim_text(value: object) -> str | None:
    """A claim as Envoy's ``claim_to_headers`` writes it: strings as they are (an empty one
    is not forwarded), booleans as JSON, numbers as Envoy prints a double (a whole number
    from 0 to 2^64 without decimals, any other with six: ``-3.000000``), objects and lists
    as base64 of their JSON; null is not forwarded."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return None
        if number.is_integer() and 0 <= number < 2**64:
            return str(int(number))
        return f"{number:f}"
    if isinstance(value, (dict, list)):
        return binascii.b2a_base64(_json_text(value).encode(), newline=False).decode("ascii")
    return None


#: characters no header value may hold (RFC 9110 field-value: controls but HTAB, and DEL)
_INVALID_IN_HEADER = frozenset(chr(code) for code in [*range(0x20), 0x7F]) - {"\t"}


def _forwarded(provider: Provider, token: Token) -> Verified:
    headers = []
    invalid = None
    for header, name in provider.claim_to_headers:
        text = claim_text(_claim(token.claims, name))
        if text is None:
            continue
        if invalid is None and not _INVALID_IN_HEADER.isdisjoint(text):
            invalid = header
        headers.append((header, text))
    metadata = b""
    if provider.payload_in_metadata:
        # As Envoy prints the claims Struct: keys sorted, compact, UTF-8 (not \u escapes).
        metadata = _json_text(token.claims).encode()
    return Verified(token, headers, metadata, invalid)


class _Entry:
    """A cached token: the signature's outcome for ``provider`` and what the claim checks
    need, precomputed (a repeat request then runs no parsing and few Python calls)."""

    __slots__ = ("provider", "token", "failure", "verified", "issuer_ok", "not_before",
                 "expires", "audiences")

    def __init__(self, provider: Provider, token: Token, failure: Failure | None,
                 verified: Verified | None) -> None:
        self.provider = provider
        self.token, self.failure, self.verified = token, failure, verified
        self.issuer_ok = not provider.issuer or token.issuer == provider.issuer
        # check_time's bounds with the provider's skew (None: no such claim)
        skew = provider.clock_skew_s
        self.not_before = token.nbf - skew if token.nbf else None
        self.expires = token.exp + skew if token.exp else None
        self.audiences = frozenset(token.audiences)


class Verifier:
    """One per root context (per worker VM); holds the token cache, keyed by the token's
    text (an entry is for one provider: another provider's look-up is a miss), oldest
    dropped first."""

    def __init__(self, cache_size: int) -> None:
        self.cache_size = cache_size
        self._cache: dict[str, _Entry] = {}

    def forget(self) -> None:
        """Drop every cached outcome (call when a provider's keys change)."""
        self._cache.clear()

    def check(self, provider: Provider, text: str, now_s: int,
              audiences: list[str] | None) -> Verified | Failure:
        """``NEEDS_KEYS`` when everything but the signature passed and the keys are missing."""
        entry = self._cache.get(text)
        if entry is not None and entry.provider is provider:
            # the usual case: the checks below, in the same order, precomputed
            if not entry.issuer_ok:
                return Failure(UNKNOWN_ISSUER)
            if entry.not_before is not None and now_s < entry.not_before:
                return Failure(NOT_YET_VALID)
            if entry.expires is not None and now_s > entry.expires:
                return Failure(EXPIRED)
            allowed = provider.audiences if audiences is None else audiences
            if allowed and entry.audiences.isdisjoint(allowed):
                return Failure(AUDIENCE, 403)
            return entry.failure or entry.verified  # type: ignore[return-value]
        parsed = parse(text)
        if isinstance(parsed, Failure):
            return parsed
        token: Token = parsed
        if provider.issuer and token.issuer != provider.issuer:
            return Failure(UNKNOWN_ISSUER)
        late = check_time(token, now_s, provider.clock_skew_s)
        if late is not None:
            return late
        if not audiences_allowed(token, provider.audiences if audiences is None else audiences):
            return Failure(AUDIENCE, 403)
        if provider.jwks is None:
            return NEEDS_KEYS
        failure = verify_signature(token, provider.jwks)
        verified = None if failure else _forwarded(provider, token)
        self._remember(text, _Entry(provider, token, failure, verified))
        return failure or verified  # type: ignore[return-value]

    def _remember(self, text: str, entry: _Entry) -> None:
        if self.cache_size <= 0:
            return
        cache = self._cache
        cache.pop(text, None)  # another provider's entry for the same text: replaced
        while len(cache) >= self.cache_size:
            del cache[next(iter(cache))]  # oldest first
        cache[text] = entry

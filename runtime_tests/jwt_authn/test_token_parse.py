"""jwt_token.parse keeps each header segment's outcome (an issuer's tokens share it): the
kept outcome must be the one a fresh parse gives, failures included, and stay bounded."""

from __future__ import annotations

import json

from .filter_modules import jwt_token
from .tokens import b64url


def _token(header: object, claims: dict[str, object] | None = None) -> str:
    header_text = header if isinstance(header, str) else json.dumps(header)
    return ".".join([b64url(header_text.encode()), b64url(json.dumps(claims or {}).encode()),
                     b64url(b"signature")])


def _outcome(result: object) -> tuple[object, ...]:
    if isinstance(result, jwt_token.Failure):
        return ("failure", result.status, result.message)
    assert isinstance(result, jwt_token.Token)
    return ("token", result.alg, result.kid, result.claims)


def test_a_kept_header_gives_what_a_fresh_parse_gives() -> None:
    headers: list[object] = [{"alg": "HS256", "kid": "k1"}, {"alg": "RS256"}, {"kid": "x"},
                             {"alg": 5}, {"alg": "HS999"}, {"alg": "HS256", "kid": 7},
                             "not json", '{"alg":"HS256","alg":"RS256"}', "[1]"]
    for header in headers:
        token = _token(header, {"iss": "i", "exp": 2})
        jwt_token._HEADERS.clear()
        fresh = jwt_token.parse(token)
        kept_first, kept_again = jwt_token.parse(token), jwt_token.parse(token)
        assert _outcome(kept_first) == _outcome(kept_again) == _outcome(fresh), header
        if isinstance(fresh, jwt_token.Failure):  # each caller gets its own Failure
            assert kept_first is not kept_again


def test_a_header_kept_does_not_change_what_the_payload_gives() -> None:
    header = {"alg": "HS256", "kid": "k1"}
    first = jwt_token.parse(_token(header, {"sub": "a", "exp": 10}))
    second = jwt_token.parse(_token(header, {"sub": 5}))
    assert _outcome(first) == ("token", "HS256", "k1", {"sub": "a", "exp": 10})
    assert _outcome(second) == ("failure", 401, "Jwt payload [sub] field is not a string")


def test_the_kept_headers_stay_bounded() -> None:
    for index in range(5 * jwt_token._HEADERS_KEPT):
        jwt_token.parse(_token({"alg": "HS256", "kid": f"key-{index}"}))
        assert len(jwt_token._HEADERS) <= jwt_token._HEADERS_KEPT

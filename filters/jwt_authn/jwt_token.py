"""Parse a compact JWS and check its claims, with the failure messages of Envoy's jwt_authn
(jwt_verify_lib's status strings), so clients see the same bodies from either filter.

``parse`` never raises: it returns a ``Token`` or a ``Failure``.
"""

from __future__ import annotations

import jwt_json
from jwt_eddsa import SIGNATURE_BYTES as ED25519_SIGNATURE_BYTES
from jwt_jwks import ALGORITHMS, Jwks, b64url_decode

TYPE_CHECKING = False  # not `from typing`: that would bundle typing into the module
if TYPE_CHECKING:
    from typing import Any

MISSING = "Jwt is missing"
BAD_FORMAT = "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
HEADER_BASE64 = "Jwt header is an invalid Base64url encoded"
HEADER_JSON = "Jwt header is an invalid JSON"
HEADER_ALG = "Jwt header [alg] field is required and must be a string"
ALG_UNSUPPORTED = "Jwt header [alg] is not supported"
HEADER_KID = "Jwt header [kid] field is not a string"
PAYLOAD_BASE64 = "Jwt payload is an invalid Base64url encoded"
PAYLOAD_JSON = "Jwt payload is an invalid JSON"
SIGNATURE_BASE64 = "Jwt signature is an invalid Base64url encoded"
EXPIRED = "Jwt is expired"
NOT_YET_VALID = "Jwt not yet valid"
UNKNOWN_ISSUER = "Jwt issuer is not configured"
AUDIENCE = "Audiences in Jwt are not allowed"
KID_ALG = "Jwks doesn't have key to match kid or alg from Jwt"
SIGNATURE = "Jwt verification fails"
ED25519_LENGTH = "Jwt ED25519 signature is wrong length"
JWKS_FETCH = "Jwks remote fetch is failed"
TOO_LARGE = "Jwt is too large"
CLAIMS = "Jwt claims are not allowed"


class Failure:
    """Why a token was refused: the HTTP status and the message sent as the body."""

    __slots__ = ("status", "message")

    def __init__(self, message: str, status: int = 401) -> None:
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"Failure({self.status}, {self.message!r})"


class Token:
    """A parsed (not yet verified) token."""

    __slots__ = ("alg", "kid", "signed", "signature", "payload_segment", "claims",
                 "issuer", "audiences", "exp", "nbf")

    def __init__(self, alg: str, kid: str | None, signed: bytes, signature: bytes,
                 payload_segment: str, claims: dict[str, Any]) -> None:
        self.alg, self.kid = alg, kid
        self.signed, self.signature = signed, signature
        self.payload_segment, self.claims = payload_segment, claims
        aud = claims.get("aud")
        self.audiences: list[str] = [normal_audience(item) for item in (
            [aud] if isinstance(aud, str) else aud or ())]
        self.issuer: str = claims.get("iss") or ""
        self.exp: int = claims.get("exp") or 0
        self.nbf: int = claims.get("nbf") or 0


def _json_object(segment: str, base64_failure: str, json_failure: str) -> dict[str, Any] | Failure:
    """A base64url section holding a JSON object, or the failure naming which step broke."""
    try:
        data = b64url_decode(segment)
    except ValueError:
        return Failure(base64_failure)
    try:  # UTF-8 only (no BOM sniffing of json.loads(bytes)), as Envoy's protobuf parser
        value = jwt_json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return Failure(json_failure)
    return value if isinstance(value, dict) else Failure(json_failure)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _in_64_bits(value: float) -> bool:
    return 0 <= value < 2**64


CLAIM_CHECKS = (
    ("iss", lambda v: isinstance(v, str), "Jwt payload [iss] field is not a string"),
    ("sub", lambda v: isinstance(v, str), "Jwt payload [sub] field is not a string"),
    ("jti", lambda v: isinstance(v, str), "Jwt payload [jti] field is not a string"),
    ("iat", _number, "Jwt payload [iat] field is not an integer"),
    ("iat", _in_64_bits, "Jwt payload [iat] field is not a positive 64 bit integer"),
    ("nbf", _number, "Jwt payload [nbf] field is not an integer"),
    ("nbf", _in_64_bits, "Jwt payload [nbf] field is not a positive 64 bit integer"),
    ("exp", _number, "Jwt payload [exp] field is not an integer"),
    ("exp", _in_64_bits, "Jwt payload [exp] field is not a positive 64 bit integer"),
    ("aud", lambda v: isinstance(v, str) or isinstance(v, list)
     and all(isinstance(item, str) for item in v),
     "Jwt payload [aud] field is not a string or string list"),
)
"""(claim, test, failure) in Envoy's order; a time claim is a number (Envoy holds it as a
double) from 0 to 2^64, its decimals dropped."""


def normal_audience(audience: str) -> str:
    """An audience as Envoy's JWT library compares it: without an ``http://`` or
    ``https://`` prefix and without one trailing ``/``."""
    if audience.startswith("https://"):
        audience = audience[8:]
    elif audience.startswith("http://"):
        audience = audience[7:]
    return audience[:-1] if audience.endswith("/") else audience


# An issuer's tokens share their header segment (alg, kid): its outcome is kept, so a new
# token decodes only its payload and signature.  Bounded: emptied when full.
_HEADERS: dict[str, tuple[str, str | None] | Failure] = {}
_HEADERS_KEPT = 64


def _header(segment: str) -> tuple[str, str | None] | Failure:
    """The header segment's ``(alg, kid)``, or why it is refused."""
    header = _json_object(segment, HEADER_BASE64, HEADER_JSON)
    if isinstance(header, Failure):
        return header
    alg = header.get("alg")
    if not isinstance(alg, str):
        return Failure(HEADER_ALG)
    if alg not in ALGORITHMS:
        return Failure(ALG_UNSUPPORTED)
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        return Failure(HEADER_KID)
    return alg, kid


def parse(text: str) -> Token | Failure:
    """Split, decode and type-check ``text``; the signature is not checked here."""
    # Empty sections are skipped, as Envoy splits (alg none's empty signature: two sections).
    parts = [part for part in text.split(".") if part]
    if len(parts) != 3:
        return Failure(BAD_FORMAT)
    header_segment, payload_segment, signature_segment = parts
    header = _HEADERS.get(header_segment)
    if header is None:
        header = _header(header_segment)
        if len(_HEADERS) >= _HEADERS_KEPT:
            _HEADERS.clear()
        _HEADERS[header_segment] = header
    if isinstance(header, Failure):
        return Failure(header.message, header.status)
    alg, kid = header
    claims = _json_object(payload_segment, PAYLOAD_BASE64, PAYLOAD_JSON)
    if isinstance(claims, Failure):
        return claims
    for name, fits, message in CLAIM_CHECKS:
        if name in claims and not fits(claims[name]):
            return Failure(message)
    for name in ("exp", "nbf", "iat"):
        if name in claims:
            claims[name] = int(claims[name])
    try:
        signature = b64url_decode(signature_segment)
    except ValueError:
        return Failure(SIGNATURE_BASE64)
    signed = f"{header_segment}.{payload_segment}".encode("ascii", "replace")
    return Token(alg, kid, signed, signature, payload_segment, claims)


def check_time(token: Token, now_s: int, skew_s: int) -> Failure | None:
    """``nbf`` and ``exp`` against ``now_s`` with ``skew_s`` seconds of tolerance."""
    if token.nbf and now_s + skew_s < token.nbf:
        return Failure(NOT_YET_VALID)
    if token.exp and now_s > token.exp + skew_s:
        return Failure(EXPIRED)
    return None


def audiences_allowed(token: Token, allowed: list[str]) -> bool:
    """True when ``allowed`` is empty or shares an audience with the token."""
    return not allowed or any(audience in allowed for audience in token.audiences)


def verify_signature(token: Token, jwks: Jwks) -> Failure | None:
    """Try every key whose ``kid`` and ``alg`` fit the token's, in the key set's order.  A key
    of another type (an RSA key named by an HS256 token: algorithm confusion) fails.  As in
    Envoy, an Ed25519 key tried with a signature that is not 64 bytes ends the search with
    its own answer, whatever the token's alg."""
    candidates = jwks.candidates(token.alg, token.kid)
    if not candidates:
        return Failure(KID_ALG)
    signature = token.signature
    for key in candidates:
        if key.kty == "OKP" and len(signature) != ED25519_SIGNATURE_BYTES:
            return Failure(ED25519_LENGTH)
        if key.fits(token.alg) and key.verify(token.alg, token.signed, signature):
            return None
    return Failure(SIGNATURE)

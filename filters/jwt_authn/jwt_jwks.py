"""JSON Web Key Sets: parse once into ready keys, then pick the keys a token may use.

Key selection follows Envoy's jwt_authn (jwt_verify_lib): a key is a candidate when its
``kid`` (if both sides have one) and ``alg`` (if the key names one) match the token's; a
candidate verifies only if its type fits the algorithm family.  No candidate: "kid or alg"
mismatch; candidates that all fail: verification fails.  Besides JWKS, the X.509 form
(``{"<kid>": "<PEM certificate>"}``) Envoy's library reads is taken (RSA keys).
"""

from __future__ import annotations

import binascii

import jwt_json
from jwt_crypto import CURVES, ES_CURVES, P256, EcKey, HmacKey, RsaKey
from jwt_eddsa import KEY_BYTES, Ed25519Key
from jwt_x509 import PEM_BEGIN, rsa_public_numbers

TYPE_CHECKING = False  # not `from typing`: that would bundle typing into the module
if TYPE_CHECKING:
    from typing import Any

# alg -> (family, hash bits)
ALGORITHMS = {
    "RS256": ("RS", "256"), "RS384": ("RS", "384"), "RS512": ("RS", "512"),
    "PS256": ("PS", "256"), "PS384": ("PS", "384"), "PS512": ("PS", "512"),
    "ES256": ("ES", "256"), "ES384": ("ES", "384"), "ES512": ("ES", "512"),
    "HS256": ("HS", "256"), "HS384": ("HS", "384"), "HS512": ("HS", "512"),
    "EdDSA": ("ED", "512"),
}
_FAMILY_KTY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "HS": "oct", "ED": "OKP"}
Key = RsaKey | EcKey | HmacKey | Ed25519Key


class JwksError(ValueError):
    """A JWKS document that cannot be used; the message names the key and field."""


# base64url -> standard alphabet in one pass; "+" and "/" (not base64url) become "*", which
# the strict decoder refuses; ASCII whitespace is deleted (absl's decoder skips it).
_TO_STANDARD = bytes.maketrans(b"-_+/", b"+/**")
_SPACES = b" \t\n\v\f\r"


def b64url_decode(text: str) -> bytes:
    """Base64url (RFC 7515 section 2), as Envoy's decoder (absl) reads it: ASCII whitespace
    anywhere is skipped, and ``=`` padding is taken when it completes the last group of
    four (one or two of them, at the end only).  Raises ValueError."""
    # The usual segment (the URL-safe alphabet only, unpadded): two replaces instead of a
    # translate with deletions, whose 256-entry tables cost a built module ~9k instructions
    # a segment.  Anything else, or a failure, takes the general path below.
    raw = text.encode("ascii", "replace")
    if b"+" not in raw and b"/" not in raw and b"=" not in raw and len(raw) % 4 != 1:
        try:
            return binascii.a2b_base64(raw.replace(b"-", b"+").replace(b"_", b"/")
                                       + b"=" * (-len(raw) % 4), strict_mode=True)
        except binascii.Error:
            pass
    return _b64url_decode_general(text)


def _b64url_decode_general(text: str) -> bytes:
    try:
        raw = text.encode("ascii").translate(_TO_STANDARD, _SPACES)
    except UnicodeEncodeError:
        raise ValueError("not base64url") from None
    if raw[-1:] == b"=":
        if len(raw) % 4:
            raise ValueError("bad base64url padding")
        raw = raw[:-2] if raw[-2:] == b"==" else raw[:-1]
        if b"=" in raw:
            raise ValueError("not base64url")
    if len(raw) % 4:
        if len(raw) % 4 == 1:
            raise ValueError("bad base64url length")
        raw += b"=" * (-len(raw) % 4)
    try:
        return binascii.a2b_base64(raw, strict_mode=True)
    except binascii.Error as error:
        raise ValueError(str(error)) from None


class Jwk:
    """One usable key: ``kid`` and ``alg`` may be None (then they match any token)."""

    __slots__ = ("kid", "alg", "kty", "key")

    def __init__(self, kid: str | None, alg: str | None, kty: str, key: Key) -> None:
        self.kid, self.alg, self.kty, self.key = kid, alg, kty, key

    def fits(self, alg: str) -> bool:
        """Whether this key's type can check ``alg`` (RSA for RS/PS, EC for ES, oct for HS,
        OKP for EdDSA)."""
        return _FAMILY_KTY[ALGORITHMS[alg][0]] == self.kty

    def verify(self, alg: str, message: bytes, signature: bytes) -> bool:
        """Check ``signature``; legal only for an ``alg`` this key ``fits``."""
        family, bits = ALGORITHMS[alg]
        key = self.key
        if isinstance(key, RsaKey):
            if family == "PS":
                return key.verify_pss(bits, message, signature)
            return key.verify_pkcs1(bits, message, signature)
        if isinstance(key, Ed25519Key):
            return key.verify(message, signature)
        return key.verify(bits, message, signature)  # HmacKey, EcKey


def _int(entry: dict[str, Any], name: str, where: str) -> int:
    value = entry.get(name)
    if not isinstance(value, str) or not value:
        raise JwksError(f"{where}.{name}: missing or not a string")
    try:
        return int.from_bytes(b64url_decode(value), "big")
    except ValueError:
        raise JwksError(f"{where}.{name}: not base64url") from None


def _ec_key(entry: dict[str, Any], alg: str | None, where: str) -> EcKey:
    """Without ``crv``, the curve is the one the key's ``alg`` names, else P-256 (Envoy)."""
    crv = entry.get("crv")
    if crv is None:
        curve = ES_CURVES.get(alg or "", P256)
    elif crv in CURVES:
        curve = CURVES[crv]
    else:
        raise JwksError(f"{where}.crv: {crv!r} is not P-256, P-384 or P-521")
    return EcKey(_int(entry, "x", where), _int(entry, "y", where), curve)


def _okp_key(entry: dict[str, Any], where: str) -> Ed25519Key:
    if entry.get("crv") != "Ed25519":
        raise JwksError(f"{where}.crv: only Ed25519 is supported for OKP, got "
                        f"{entry.get('crv')!r}")
    x = entry.get("x")
    if not isinstance(x, str) or not x:
        raise JwksError(f"{where}.x: missing or not a string")
    raw = b64url_decode(x)
    if len(raw) != KEY_BYTES:
        raise JwksError(f"{where}.x: an Ed25519 key is {KEY_BYTES} bytes, got {len(raw)}")
    return Ed25519Key(raw)


def _key(entry: dict[str, Any], where: str) -> Jwk:
    kty = entry.get("kty")
    kid = entry.get("kid")
    alg = entry.get("alg")
    if not isinstance(kid, str):
        kid = None  # as Envoy: a kid that is not a string is no kid
    if alg is not None and alg not in ALGORITHMS:
        raise JwksError(f"{where}.alg: {alg!r} is not supported")
    try:
        if kty == "RSA":
            key: Key = RsaKey(_int(entry, "n", where), _int(entry, "e", where))
        elif kty == "EC":
            key = _ec_key(entry, alg, where)
        elif kty == "OKP":
            key = _okp_key(entry, where)
        elif kty == "oct":
            secret = entry.get("k")
            if not isinstance(secret, str) or not secret:
                raise JwksError(f"{where}.k: missing or not a string")
            key = HmacKey(b64url_decode(secret))
        else:
            raise JwksError(f"{where}.kty: {kty!r} is not RSA, EC, OKP or oct")
    except JwksError:
        raise
    except ValueError as error:
        raise JwksError(f"{where}: {error}") from None
    if alg is not None and _FAMILY_KTY[ALGORITHMS[alg][0]] != kty:
        raise JwksError(f"{where}.alg: {alg} does not fit kty {kty}")
    return Jwk(kid, alg, kty, key)


def _x509_keys(document: dict[str, Any], where: str) -> list[Jwk]:
    """``{"<kid>": "<PEM certificate>", ...}``: every certificate must hold an RSA key (as in
    Envoy, one that does not makes the whole set unusable)."""
    keys = []
    for kid, pem in document.items():
        try:
            n, e = rsa_public_numbers(pem)
            keys.append(Jwk(kid, None, "RSA", RsaKey(n, e)))
        except ValueError as error:  # X509Error too
            raise JwksError(f"{where}.{kid}: {error}") from None
    return keys


def is_x509_form(document: dict[str, Any]) -> bool:
    return bool(document) and "keys" not in document and all(
        isinstance(value, str) and value.lstrip().startswith(PEM_BEGIN)
        for value in document.values())


class Jwks:
    """Usable keys of one JWKS; ``skipped`` says why the others were left out."""

    def __init__(self, keys: list[Jwk], skipped: list[str]) -> None:
        self.keys = keys
        self.skipped = skipped

    def candidates(self, alg: str, kid: str | None) -> list[Jwk]:
        """Keys a token with header ``alg`` and ``kid`` names: the ``kid`` matches (when both
        have one) and the key's ``alg`` too (when it has one).  Their type is not looked at
        here, as in Envoy: a candidate of the wrong type makes verification fail."""
        return [key for key in self.keys
                if (key.alg is None or key.alg == alg)
                and (kid is None or key.kid is None or key.kid == kid)]


def parse_jwks(document: str | bytes | dict[str, Any], where: str = "jwks") -> Jwks:
    """Parse a JWKS (JSON text or already-decoded object), or the X.509 form
    (``{"<kid>": "<PEM certificate>", ...}``).  Keys that cannot be used are skipped and
    reported (entries that are not objects silently, as Envoy); raises ``JwksError`` when
    none is usable, as Envoy refuses such a set."""
    parsed: object = document
    if not isinstance(document, dict):
        try:
            text = document.decode("utf-8") if isinstance(document, bytes) else document
            parsed = jwt_json.loads(text)
        except (ValueError, RecursionError) as error:
            raise JwksError(f"{where}: not valid JSON: {error}") from None
    return _jwks(parsed, where)


def _jwks(document: object, where: str) -> Jwks:
    if isinstance(document, dict) and is_x509_form(document):
        return Jwks(_x509_keys(document, where), [])
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError(f"{where}.keys: missing or not a list")
    keys: list[Jwk] = []
    skipped: list[str] = []
    for index, entry in enumerate(document["keys"]):
        if not isinstance(entry, dict):
            continue
        try:
            keys.append(_key(entry, f"{where}.keys[{index}]"))
        except JwksError as error:
            skipped.append(str(error))
    if not keys:
        raise JwksError(f"{where}.keys: no usable key ({'; '.join(skipped) or 'empty'})")
    return Jwks(keys, skipped)

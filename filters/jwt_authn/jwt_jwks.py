"""JSON Web Key Sets: parse once into ready keys, then pick the keys a token may use.

Key selection follows Envoy's jwt_authn (jwt_verify_lib): a key is a candidate when its
``kid`` (if both sides have one) and ``alg`` (if the key names one) match the token's, and its
type fits the algorithm family.  No candidate: "kid or alg" mismatch; candidates that all fail:
verification fails.
"""

from __future__ import annotations

import binascii
import json

from jwt_crypto import EcKey, HmacKey, RsaKey

# alg -> (family, hash bits)
ALGORITHMS = {
    "RS256": ("RS", "256"), "RS384": ("RS", "384"), "RS512": ("RS", "512"),
    "PS256": ("PS", "256"), "PS384": ("PS", "384"), "PS512": ("PS", "512"),
    "ES256": ("ES", "256"),
    "HS256": ("HS", "256"), "HS384": ("HS", "384"), "HS512": ("HS", "512"),
}
_FAMILY_KTY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "HS": "oct"}


class JwksError(ValueError):
    """A JWKS document that cannot be used; the message names the key and field."""


# base64url -> standard alphabet in one pass; "+" and "/" (not base64url) become "*", which
# the strict decoder refuses; ASCII whitespace is deleted (absl's decoder skips it).
_TO_STANDARD = bytes.maketrans(b"-_+/", b"+/**")
_SPACES = b" \t\n\v\f\r"


def b64url_decode(text: str) -> bytes:
    """Base64url (RFC 7515 section 2); up to two trailing ``=`` are tolerated and ASCII
    whitespace anywhere is skipped, as Envoy's decoder (absl) does.  Raises ValueError."""
    try:
        raw = text.encode("ascii").translate(_TO_STANDARD, _SPACES)
    except UnicodeEncodeError:
        raise ValueError("not base64url") from None
    if raw[-1:] == b"=":
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

    def __init__(self, kid: str | None, alg: str | None, kty: str,
                 key: RsaKey | EcKey | HmacKey) -> None:
        self.kid, self.alg, self.kty, self.key = kid, alg, kty, key

    def fits(self, alg: str) -> bool:
        """Whether this key's type can check ``alg`` (RSA for RS/PS, EC for ES, oct for HS)."""
        return _FAMILY_KTY[ALGORITHMS[alg][0]] == self.kty

    def verify(self, alg: str, message: bytes, signature: bytes) -> bool:
        """Check ``signature``; legal only for an ``alg`` this key ``fits``."""
        family, bits = ALGORITHMS[alg]
        key = self.key
        if family == "HS":
            return key.verify(bits, message, signature)  # type: ignore[union-attr]
        if family == "RS":
            return key.verify_pkcs1(bits, message, signature)  # type: ignore[union-attr]
        if family == "PS":
            return key.verify_pss(bits, message, signature)  # type: ignore[union-attr]
        return key.verify(message, signature)  # type: ignore[union-attr,call-arg]


def _int(entry: dict, name: str, where: str) -> int:
    value = entry.get(name)
    if not isinstance(value, str) or not value:
        raise JwksError(f"{where}.{name}: missing or not a string")
    try:
        return int.from_bytes(b64url_decode(value), "big")
    except ValueError:
        raise JwksError(f"{where}.{name}: not base64url") from None


def _key(entry: object, where: str) -> Jwk:
    if not isinstance(entry, dict):
        raise JwksError(f"{where}: not an object")
    kty = entry.get("kty")
    kid = entry.get("kid")
    alg = entry.get("alg")
    if kid is not None and not isinstance(kid, str):
        raise JwksError(f"{where}.kid: not a string")
    if alg is not None and alg not in ALGORITHMS:
        raise JwksError(f"{where}.alg: {alg!r} is not supported")
    try:
        if kty == "RSA":
            key: RsaKey | EcKey | HmacKey = RsaKey(_int(entry, "n", where), _int(entry, "e", where))
        elif kty == "EC":
            if entry.get("crv") != "P-256":
                raise JwksError(f"{where}.crv: only P-256 is supported, got {entry.get('crv')!r}")
            key = EcKey(_int(entry, "x", where), _int(entry, "y", where))
        elif kty == "oct":
            secret = entry.get("k")
            if not isinstance(secret, str) or not secret:
                raise JwksError(f"{where}.k: missing or not a string")
            key = HmacKey(b64url_decode(secret))
        else:
            raise JwksError(f"{where}.kty: {kty!r} is not RSA, EC or oct")
    except JwksError:
        raise
    except ValueError as error:
        raise JwksError(f"{where}: {error}") from None
    if alg is not None and _FAMILY_KTY[ALGORITHMS[alg][0]] != kty:
        raise JwksError(f"{where}.alg: {alg} does not fit kty {kty}")
    return Jwk(kid, alg, kty, key)


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


def parse_jwks(document: str | bytes | dict, where: str = "jwks") -> Jwks:
    """Parse a JWKS (JSON text or already-decoded object).  Keys that cannot be used are
    skipped and reported; raises ``JwksError`` when none is usable."""
    if not isinstance(document, dict):
        try:
            document = json.loads(document)
        except ValueError as error:
            raise JwksError(f"{where}: not valid JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError(f"{where}.keys: missing or not a list")
    keys: list[Jwk] = []
    skipped: list[str] = []
    for index, entry in enumerate(document["keys"]):
        try:
            keys.append(_key(entry, f"{where}.keys[{index}]"))
        except JwksError as error:
            skipped.append(str(error))
    if not keys:
        raise JwksError(f"{where}.keys: no usable key ({'; '.join(skipped) or 'empty'})")
    return Jwks(keys, skipped)

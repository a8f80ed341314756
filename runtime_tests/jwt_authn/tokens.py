"""Test keys and tokens for the jwt_authn scenarios, made with the ``cryptography`` package
(tests only: the filter itself verifies with its own pure-Python code).

Keys are generated once per test session; token times are relative to the moment a token
is made (``"+3600"``, ``"-3600"``), so no scenario can rot.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class KeySet:
    """An RSA-2048 key (kid rsa1), a P-256 key (ec1), an HMAC secret (hs1), and keys no
    JWKS knows (for bad signatures)."""

    rsa: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    ec: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    secret: bytes = b"meshwasm-test-secret-0123456789abcdef"
    other_rsa: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    other_ec: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def jwks(self) -> dict[str, Any]:
        public = self.rsa.public_key().public_numbers()
        point = self.ec.public_key().public_numbers()
        return {"keys": [
            {"kty": "RSA", "kid": "rsa1", "use": "sig", "n": _int_b64(public.n),
             "e": _int_b64(public.e)},
            {"kty": "EC", "kid": "ec1", "crv": "P-256", "x": b64url(point.x.to_bytes(32, "big")),
             "y": b64url(point.y.to_bytes(32, "big"))},
            {"kty": "oct", "kid": "hs1", "k": b64url(self.secret)},
        ]}

    def rsa_public_pem(self) -> bytes:
        return self.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, alg: str, signing_input: bytes, wrong_key: bool = False) -> bytes:
        family, bits = alg[:2], alg[2:]
        if family == "HS":
            secret = b"not-the-secret" if wrong_key else self.secret
            return hmac.new(secret, signing_input, getattr(hashlib, f"sha{bits}")).digest()
        if family in ("RS", "PS"):
            key = self.other_rsa if wrong_key else self.rsa
            pad = padding.PKCS1v15() if family == "RS" else padding.PSS(
                padding.MGF1(_HASHES[bits]()), _HASHES[bits]().digest_size)
            return key.sign(signing_input, pad, _HASHES[bits]())
        if family == "ES":
            key_ec = self.other_ec if wrong_key else self.ec
            r, s = decode_dss_signature(key_ec.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        raise ValueError(f"no signer for {alg}")


def relative_claims(claims: dict[str, Any], now: int) -> dict[str, Any]:
    """``"+N"``/``"-N"`` strings of exp, nbf and iat become ``now`` plus N seconds."""
    out = dict(claims)
    for name in ("exp", "nbf", "iat"):
        value = out.get(name)
        if isinstance(value, str) and value[:1] in "+-":
            out[name] = now + int(value)
    return out


def make_token(keys: KeySet, spec: dict[str, Any], now: int | None = None) -> str:
    """A compact JWS from a spec: ``alg``, ``kid``, ``claims``, ``header`` (extra fields),
    ``wrong_key`` (sign with a key the JWKS lacks), ``secret_pem`` (HS signed with the RSA
    public key as the secret: the algorithm-confusion attack), ``unsigned`` (alg none)."""
    now = int(time.time()) if now is None else now
    header: dict[str, Any] = {"alg": spec.get("alg", "RS256"), "typ": "JWT"}
    if "kid" in spec:
        header["kid"] = spec["kid"]
    header.update(spec.get("header", {}))
    claims = relative_claims(spec.get("claims", {}), now)
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + b64url(json.dumps(claims, separators=(",", ":")).encode())).encode()
    if spec.get("unsigned"):
        return signing_input.decode() + "."
    if spec.get("secret_pem"):
        signature = hmac.new(keys.rsa_public_pem(), signing_input, hashlib.sha256).digest()
    else:
        signature = keys.sign(header["alg"], signing_input, spec.get("wrong_key", False))
    return signing_input.decode() + "." + b64url(signature)

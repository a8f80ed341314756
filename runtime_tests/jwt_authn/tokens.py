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
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
#: ES alg -> (curve, JWK crv, bytes per coordinate)
EC_CURVES = {"ES256": (ec.SECP256R1, "P-256", 32), "ES384": (ec.SECP384R1, "P-384", 48),
             "ES512": (ec.SECP521R1, "P-521", 66)}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_padded(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


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
    ec384: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP384R1()))
    ec521: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP521R1()))
    ed: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)

    def ec_key(self, alg: str, wrong_key: bool = False) -> ec.EllipticCurvePrivateKey:
        if wrong_key:
            return ec.generate_private_key(EC_CURVES[alg][0]())
        return {"ES256": self.ec, "ES384": self.ec384, "ES512": self.ec521}[alg]

    def more_jwks(self) -> dict[str, Any]:
        """A JWKS of the P-384 (kid ec384), P-521 (ec521) and Ed25519 (ed1) keys."""
        keys = [ec_jwk(self.ec384, "ec384"), ec_jwk(self.ec521, "ec521"),
                {"kty": "OKP", "crv": "Ed25519", "kid": "ed1",
                 "x": b64url(self.ed.public_key().public_bytes_raw())}]
        return {"keys": keys}

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
            size = EC_CURVES[alg][2]
            key_ec = self.other_ec if wrong_key and alg == "ES256" else self.ec_key(alg, wrong_key)
            r, s = decode_dss_signature(key_ec.sign(signing_input, ec.ECDSA(_HASHES[bits]())))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if alg == "EdDSA":
            key_ed = ed25519.Ed25519PrivateKey.generate() if wrong_key else self.ed
            return key_ed.sign(signing_input)
        raise ValueError(f"no signer for {alg}")


def ec_jwk(private: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    """The public JWK of an EC key (coordinates padded to the curve's size)."""
    numbers = private.public_key().public_numbers()
    _, crv, size = next(entry for entry in EC_CURVES.values()
                        if entry[0].name == private.curve.name)
    return {"kty": "EC", "kid": kid, "crv": crv, "x": b64url(numbers.x.to_bytes(size, "big")),
            "y": b64url(numbers.y.to_bytes(size, "big"))}


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
    public key as the secret: the algorithm-confusion attack), ``unsigned`` (alg none);
    ``header_json``/``payload_json``: the section's JSON text as given (duplicate keys,
    numbers JSON cannot round-trip; ``NOW`` is replaced by ``now``), ``signature_bytes``:
    cut or extend the signature to that length, ``padded``: sections keep their ``=``."""
    now = int(time.time()) if now is None else now
    header: dict[str, Any] = {"alg": spec.get("alg", "RS256"), "typ": "JWT"}
    if "kid" in spec:
        header["kid"] = spec["kid"]
    header.update(spec.get("header", {}))
    claims = relative_claims(spec.get("claims", {}), now)
    encode = b64url_padded if spec.get("padded") else b64url
    header_json = spec.get("header_json") or json.dumps(header, separators=(",", ":"))
    payload_json = spec.get("payload_json") or json.dumps(claims, separators=(",", ":"))
    payload_json = payload_json.replace("NOW", str(now))
    signing_input = (encode(header_json.encode()) + "." + encode(payload_json.encode())).encode()
    if spec.get("unsigned"):
        return signing_input.decode() + "."
    if spec.get("secret_pem"):
        signature = hmac.new(keys.rsa_public_pem(), signing_input, hashlib.sha256).digest()
    else:
        alg = spec.get("sign_as") or header["alg"]
        signature = keys.sign(alg, signing_input, spec.get("wrong_key", False))
    if "signature_bytes" in spec:
        signature = signature[:spec["signature_bytes"]].ljust(spec["signature_bytes"], b"\1")
    return signing_input.decode() + "." + encode(signature)


def self_signed_pem(private: Any, name: str) -> str:
    """A self-signed X.509 certificate (PEM) for ``private``'s public key."""
    import datetime

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    algorithm = None if isinstance(private, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(private.public_key()).serial_number(1000)
                   .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
                   .sign(private, algorithm))
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

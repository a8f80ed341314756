"""The filter's pure-Python signature checks against signatures made by ``cryptography``."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from .filter_modules import jwt_crypto, jwt_jwks, jwt_token
from .tokens import KeySet, make_token

ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "HS256", "HS384",
        "HS512"]


@pytest.fixture(scope="module")
def jwks(test_keys: KeySet) -> jwt_jwks.Jwks:
    return jwt_jwks.parse_jwks(test_keys.jwks())


def _verify(jwks: jwt_jwks.Jwks, token: str) -> object:
    parsed = jwt_token.parse(token)
    assert isinstance(parsed, jwt_token.Token), parsed
    return jwt_token.verify_signature(parsed, jwks)


@settings(max_examples=30, deadline=None)
@given(alg=st.sampled_from(ALGS), subject=st.text(max_size=40),
       flip=st.integers(min_value=0, max_value=10_000))
def test_good_signatures_verify_and_any_flipped_bit_fails(test_keys: KeySet,
                                                          jwks: jwt_jwks.Jwks, alg: str,
                                                          subject: str, flip: int) -> None:
    kid = {"RS": "rsa1", "PS": "rsa1", "ES": "ec1", "HS": "hs1"}[alg[:2]]
    token = make_token(test_keys, {"alg": alg, "kid": kid, "claims": {"sub": subject}})
    assert _verify(jwks, token) is None
    head, payload, signature = token.split(".")
    raw = bytearray(jwt_jwks.b64url_decode(signature))
    raw[flip % len(raw)] ^= 1 << (flip % 8)
    from .tokens import b64url

    failure = _verify(jwks, f"{head}.{payload}.{b64url(bytes(raw))}")
    assert isinstance(failure, jwt_token.Failure) and failure.message == jwt_token.SIGNATURE


def test_ecdsa_rejects_out_of_range_r_and_s(test_keys: KeySet) -> None:
    point = test_keys.ec.public_key().public_numbers()
    key = jwt_crypto.EcKey(point.x, point.y)
    n = jwt_crypto.N
    for r, s in [(0, 1), (1, 0), (n, 1), (1, n), (n + 1, 5)]:
        signature = (r % (1 << 256)).to_bytes(32, "big") + (s % (1 << 256)).to_bytes(32, "big")
        assert not key.verify(b"message", signature)
    assert not key.verify(b"message", b"\x01" * 63)


def test_ecdsa_keys_off_the_curve_are_refused() -> None:
    with pytest.raises(ValueError, match="not a point on P-256"):
        jwt_crypto.EcKey(jwt_crypto.GX, jwt_crypto.GY + 1)
    with pytest.raises(ValueError):
        jwt_crypto.EcKey(jwt_crypto.P + 1, jwt_crypto.GY)


def test_ecdsa_matches_cryptography_on_fresh_keys() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    for index in range(5):
        private = ec.generate_private_key(ec.SECP256R1())
        numbers = private.public_key().public_numbers()
        message = f"message {index}".encode()
        r, s = decode_dss_signature(private.sign(message, ec.ECDSA(hashes.SHA256())))
        key = jwt_crypto.EcKey(numbers.x, numbers.y)
        assert key.verify(message, r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        assert not key.verify(message + b"!", r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def test_rsa_keys_too_small_or_with_even_exponents_are_refused() -> None:
    with pytest.raises(ValueError):
        jwt_crypto.RsaKey((1 << 511) + 1, 65537)
    with pytest.raises(ValueError):
        jwt_crypto.RsaKey((1 << 2047) + 1, 65536)


def test_jwks_reports_unusable_keys_by_field() -> None:
    with pytest.raises(jwt_jwks.JwksError, match=r"jwks.keys\[0\].kty"):
        jwt_jwks.parse_jwks({"keys": [{"kty": "OKP"}]})
    jwks = jwt_jwks.parse_jwks({"keys": [{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
                                         {"kty": "oct", "k": "c2VjcmV0"}]})
    assert len(jwks.keys) == 1 and "crv" in jwks.skipped[0]

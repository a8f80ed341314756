"""The filter's pure-Python signature checks against signatures made by ``cryptography``."""

from __future__ import annotations

import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from .filter_modules import jwt_crypto, jwt_eddsa, jwt_jwks, jwt_token, jwt_x509
from .tokens import EC_CURVES, KeySet, b64url, make_token, self_signed_pem

ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
        "HS256", "HS384", "HS512", "EdDSA"]
KIDS = {"RS": "rsa1", "PS": "rsa1", "ES256": "ec1", "ES384": "ec384", "ES512": "ec521",
        "HS": "hs1", "EdDSA": "ed1"}
_SHA = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


@pytest.fixture(scope="module")
def jwks(test_keys: KeySet) -> jwt_jwks.Jwks:
    return jwt_jwks.parse_jwks({"keys": test_keys.jwks()["keys"]
                                + test_keys.more_jwks()["keys"]})


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
    kid = KIDS.get(alg) or KIDS[alg[:2]]
    token = make_token(test_keys, {"alg": alg, "kid": kid, "claims": {"sub": subject}})
    assert _verify(jwks, token) is None
    head, payload, signature = token.split(".")
    raw = bytearray(jwt_jwks.b64url_decode(signature))
    raw[flip % len(raw)] ^= 1 << (flip % 8)
    failure = _verify(jwks, f"{head}.{payload}.{b64url(bytes(raw))}")
    assert isinstance(failure, jwt_token.Failure) and failure.message == jwt_token.SIGNATURE


@pytest.mark.parametrize("alg", sorted(EC_CURVES))
def test_curve_constants_are_those_of_cryptography(alg: str) -> None:
    curve = jwt_crypto.ES_CURVES[alg]
    spec = EC_CURVES[alg][0]()
    generator = ec.derive_private_key(1, spec).public_key().public_numbers()
    assert (generator.x, generator.y) == (curve.gx, curve.gy)
    assert curve.on_curve(curve.gx, curve.gy)
    minus_g = ec.derive_private_key(curve.n - 1, spec).public_key().public_numbers()
    assert (minus_g.x, minus_g.y) == (curve.gx, curve.p - curve.gy)  # so n is the order
    with pytest.raises(ValueError):
        ec.derive_private_key(curve.n, spec)


@pytest.mark.parametrize("alg", sorted(EC_CURVES))
def test_ecdsa_rejects_out_of_range_r_and_s(test_keys: KeySet, alg: str) -> None:
    curve = jwt_crypto.ES_CURVES[alg]
    point = test_keys.ec_key(alg).public_key().public_numbers()
    key = jwt_crypto.EcKey(point.x, point.y, curve)
    n, size, bits = curve.n, curve.size, alg[2:]
    for r, s in [(0, 1), (1, 0), (n, 1), (1, n), (n + 1, 5)]:
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        assert not key.verify(bits, b"message", signature)
    assert not key.verify(bits, b"message", b"\x01" * (2 * size - 1))


@pytest.mark.parametrize("curve", [jwt_crypto.P256, jwt_crypto.P384, jwt_crypto.P521])
def test_ecdsa_keys_off_the_curve_are_refused(curve: jwt_crypto.Curve) -> None:
    with pytest.raises(ValueError, match=f"not a point on {curve.name}"):
        jwt_crypto.EcKey(curve.gx, curve.gy + 1, curve)
    with pytest.raises(ValueError):
        jwt_crypto.EcKey(curve.p + 1, curve.gy, curve)


@settings(max_examples=40, deadline=None)
@given(alg=st.sampled_from(sorted(EC_CURVES)), secret=st.integers(1, 2**256),
       message=st.binary(max_size=200), flip=st.integers(0, 2**16))
def test_ecdsa_agrees_with_cryptography(alg: str, secret: int, message: bytes,
                                        flip: int) -> None:
    curve = jwt_crypto.ES_CURVES[alg]
    private = ec.derive_private_key(secret % (curve.n - 1) + 1, EC_CURVES[alg][0]())
    numbers = private.public_key().public_numbers()
    key = jwt_crypto.EcKey(numbers.x, numbers.y, curve)
    algorithm = ec.ECDSA(_SHA[alg[2:]]())
    r, s = decode_dss_signature(private.sign(message, algorithm))
    signature = r.to_bytes(curve.size, "big") + s.to_bytes(curve.size, "big")
    assert key.verify(alg[2:], message, signature)
    raw = bytearray(signature)
    raw[flip % len(raw)] ^= 1 << (flip % 8)
    assert not key.verify(alg[2:], message, bytes(raw))
    assert not key.verify(alg[2:], message + b"!", signature)


def _cryptography_accepts(public: ed25519.Ed25519PublicKey, message: bytes,
                          signature: bytes) -> bool:
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True


@settings(max_examples=40, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=200),
       flip=st.integers(0, 2**16), tamper=st.sampled_from(["bit", "s+L", "none"]))
def test_ed25519_agrees_with_cryptography(seed: bytes, message: bytes, flip: int,
                                          tamper: str) -> None:
    private = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    public = private.public_key()
    key = jwt_eddsa.Ed25519Key(public.public_bytes_raw())
    signature = private.sign(message)
    assert key.verify(message, signature)
    if tamper == "bit":
        raw = bytearray(signature)
        raw[flip % 64] ^= 1 << (flip % 8)
        signature = bytes(raw)
    elif tamper == "s+L":  # the same point, a non-canonical S: both must refuse it
        s = int.from_bytes(signature[32:], "little") + jwt_eddsa.L
        if s < 2**256:
            signature = signature[:32] + s.to_bytes(32, "little")
    assert key.verify(message, signature) == _cryptography_accepts(public, message, signature)


def test_ed25519_refuses_bad_keys_and_lengths(test_keys: KeySet) -> None:
    key = jwt_eddsa.Ed25519Key(test_keys.ed.public_key().public_bytes_raw())
    signature = test_keys.ed.sign(b"m")
    assert not key.verify(b"m", signature[:63]) and not key.verify(b"m", signature + b"\0")
    with pytest.raises(ValueError):
        jwt_eddsa.Ed25519Key(b"\xff" * 32)  # y >= p
    assert jwt_eddsa.decode_point(bytes(31)) is None


def test_rsa_keys_too_small_or_with_even_exponents_are_refused() -> None:
    with pytest.raises(ValueError):
        jwt_crypto.RsaKey((1 << 511) + 1, 65537)
    with pytest.raises(ValueError):
        jwt_crypto.RsaKey((1 << 2047) + 1, 65536)


def test_jwks_reports_unusable_keys_by_field() -> None:
    with pytest.raises(jwt_jwks.JwksError, match=r"jwks.keys\[0\].kty"):
        jwt_jwks.parse_jwks({"keys": [{"kty": "RSB"}]})
    with pytest.raises(jwt_jwks.JwksError, match=r"jwks.keys\[0\].crv"):
        jwt_jwks.parse_jwks({"keys": [{"kty": "OKP", "crv": "X448", "x": "AA"}]})
    jwks = jwt_jwks.parse_jwks({"keys": [{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
                                         "not an object",
                                         {"kty": "oct", "k": "c2VjcmV0"}]})
    assert len(jwks.keys) == 1 and "not a point on P-384" in jwks.skipped[0]


def test_an_ec_key_without_crv_takes_its_curve_from_alg(test_keys: KeySet) -> None:
    for alg, kid in (("ES256", "ec1"), ("ES384", "ec384"), ("ES512", "ec521")):
        jwk = {name: value for name, value in make_jwk(test_keys, kid).items()
               if name != "crv"}
        assert jwt_jwks.parse_jwks({"keys": [{**jwk, "alg": alg}]}).keys[0].key.curve \
            is jwt_crypto.ES_CURVES[alg]
    plain = {name: value for name, value in make_jwk(test_keys, "ec1").items() if name != "crv"}
    assert jwt_jwks.parse_jwks({"keys": [plain]}).keys[0].key.curve is jwt_crypto.P256


def make_jwk(keys: KeySet, kid: str) -> dict:
    return next(jwk for jwk in keys.jwks()["keys"] + keys.more_jwks()["keys"]
                if jwk["kid"] == kid)


def test_a_kid_that_is_not_a_string_is_no_kid(test_keys: KeySet) -> None:
    jwks = jwt_jwks.parse_jwks({"keys": [{**make_jwk(test_keys, "rsa1"), "kid": 7}]})
    assert jwks.keys[0].kid is None


def test_x509_key_sets_give_the_certificates_rsa_keys(test_keys: KeySet) -> None:
    numbers = test_keys.rsa.public_key().public_numbers()
    jwks = jwt_jwks.parse_jwks({"one": self_signed_pem(test_keys.rsa, "one")})
    [key] = jwks.keys
    assert (key.kid, key.kty, key.key.n, key.key.e) == ("one", "RSA", numbers.n, numbers.e)
    with pytest.raises(jwt_jwks.JwksError, match="ec: the certificate's key is not an RSA"):
        jwt_jwks.parse_jwks({"ec": self_signed_pem(test_keys.ec, "ec")})
    pem = self_signed_pem(test_keys.rsa, "cut")
    with pytest.raises(jwt_x509.X509Error):
        jwt_x509.rsa_public_numbers(pem[:200] + pem[-30:])


def test_jwks_text_with_trailing_commas_is_read_as_envoy_reads_it(test_keys: KeySet) -> None:
    text = '{"keys": [' + json.dumps(make_jwk(test_keys, "hs1"))[:-1] + ',},],}'
    assert [key.kid for key in jwt_jwks.parse_jwks(text).keys] == ["hs1"]
    with pytest.raises(jwt_jwks.JwksError, match="not valid JSON"):
        jwt_jwks.parse_jwks('{"keys": [], "keys": []}')

"""The harness's foreign functions (harness/foreign.py): Envoy's verify_signature."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from meshwasm.harness import abi
from meshwasm.harness.foreign import call_foreign_function, decode_fields, encode_field

TEXT = b"header.payload"


def _der(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def _arguments(hash_name: bytes, der: bytes, signature: bytes, text: bytes) -> bytes:
    return (encode_field(1, hash_name) + encode_field(2, der) + encode_field(3, signature)
            + encode_field(4, text))


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_a_good_rsa_signature_verifies_and_a_changed_text_does_not(rsa_key: rsa.RSAPrivateKey) -> None:
    signature = rsa_key.sign(TEXT, padding.PKCS1v15(), hashes.SHA256())
    status, result = call_foreign_function(
        b"verify_signature", _arguments(b"sha256", _der(rsa_key), signature, TEXT))
    assert (status, result) == (abi.OK, b"\x08\x01")
    status, result = call_foreign_function(
        b"verify_signature", _arguments(b"sha256", _der(rsa_key), signature, TEXT + b"!"))
    assert status == abi.OK
    fields = decode_fields(result)
    assert 1 not in fields and fields[2] == b"Failed to verify digest. Error code: 0"


def test_an_ecdsa_signature_verifies() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signature = key.sign(TEXT, ec.ECDSA(hashes.SHA256()))
    assert call_foreign_function(b"verify_signature", _arguments(
        b"sha256", _der(key), signature, TEXT)) == (abi.OK, b"\x08\x01")


@pytest.mark.parametrize("argument", [
    b"\x12\x05abc",                        # a field longer than the message
    encode_field(2, b"not a DER key"),     # a key that does not load
    b"\x0b",                               # a group wire type
    encode_field(1, b"sha256"),            # no key at all
])
def test_malformed_arguments_answer_bad_argument(argument: bytes) -> None:
    assert call_foreign_function(b"verify_signature", argument) == (abi.BAD_ARGUMENT, b"")


def test_a_name_the_proxy_does_not_register_answers_not_found() -> None:
    assert call_foreign_function(b"no_such_function", b"") == (abi.NOT_FOUND, b"")


def test_clear_route_cache_is_done() -> None:
    assert call_foreign_function(b"clear_route_cache", b"") == (abi.OK, b"")


def test_declare_property_once_per_name_as_envoy() -> None:
    declared: set[bytes] = set()
    argument = encode_field(1, b"my.prop") + encode_field(3, 1)
    assert call_foreign_function(b"declare_property", argument, declared) == (abi.OK, b"")
    assert call_foreign_function(b"declare_property", argument, declared) == \
        (abi.BAD_ARGUMENT, b"")
    other = encode_field(1, b"other.prop")
    assert call_foreign_function(b"declare_property", other, declared) == (abi.OK, b"")
    assert call_foreign_function(b"declare_property", b"\xff", declared) == \
        (abi.BAD_ARGUMENT, b"")

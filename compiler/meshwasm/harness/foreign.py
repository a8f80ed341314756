"""Foreign functions (``proxy_call_foreign_function``) as Envoy 1.40 registers them.

Envoy answers NotFound for a name it does not register.  Of the ones it does, the harness
offers ``clear_route_cache`` (nothing to do: one route), ``declare_property`` (once per name
and VM; Envoy's scope of a declaration is not pinned, only that a second one in the same
stream is refused) and ``verify_signature``: a public-key signature check done by the proxy's own crypto
library instead of the module's interpreter (Envoy uses BoringSSL; the harness uses
``cryptography``).  Its argument and result are protobuf messages (Envoy's
``source/extensions/common/wasm/ext/verify_signature.proto``):

- ``VerifySignatureArguments``: 1 ``hash_function`` (string, e.g. "sha256"), 2 ``public_key``
  (bytes, DER SubjectPublicKeyInfo), 3 ``signature`` (bytes), 4 ``text`` (bytes), 5
  ``public_key_pem`` (string, newer Envoys);
- ``VerifySignatureResult``: 1 ``result`` (bool), 2 ``error`` (string).

A malformed message or a key that does not load answers BadArgument, as Envoy does; a wrong
signature is a successful call whose result is false with an error text.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from meshwasm.harness import abi
from proxy_wasm import protowire

ForeignFunction = Callable[[bytes, set[bytes]], tuple[int, bytes]]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
    "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}


# Protobuf's wire format, shared with the SDK (filters write these messages too).
decode_fields = protowire.fields
encode_field = protowire.field


def _bytes_field(fields: dict[int, bytes | int], number: int) -> bytes:
    """A length-delimited field (empty when absent); a varint there is malformed."""
    value = fields.get(number, b"")
    if not isinstance(value, bytes):
        raise ValueError(f"field {number} is not length-delimited")
    return value


def _load_key(fields: dict[int, bytes | int]) -> object:
    der, pem = _bytes_field(fields, 2), _bytes_field(fields, 5)
    if bool(der) == bool(pem):
        raise ValueError("exactly one of public_key and public_key_pem")
    return (serialization.load_der_public_key(der) if der
            else serialization.load_pem_public_key(pem))


def verify_signature(argument: bytes) -> tuple[int, bytes]:
    try:
        fields = decode_fields(argument)
        key = _load_key(fields)
        hash_name, signature, text = (_bytes_field(fields, number) for number in (1, 3, 4))
    except (ValueError, UnsupportedAlgorithm):  # a malformed message is a ValueError too
        return abi.BAD_ARGUMENT, b""
    algorithm = _HASHES.get(hash_name.decode("ascii", "replace"))
    if algorithm is None:
        return abi.OK, encode_field(2, b"unknown hash function")
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, text, padding.PKCS1v15(), algorithm())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, text, ec.ECDSA(algorithm()))
        else:
            return abi.OK, encode_field(2, b"unsupported key type")
    except InvalidSignature:
        return abi.OK, encode_field(2, b"Failed to verify digest. Error code: 0")
    return abi.OK, encode_field(1, True)


def clear_route_cache(_argument: bytes, _declared: set[bytes]) -> tuple[int, bytes]:
    """Envoy picks the route again; the harness has one route: nothing to do."""
    return abi.OK, b""


def declare_property(argument: bytes, declared: set[bytes]) -> tuple[int, bytes]:
    """``DeclarePropertyArguments`` (1 name, 2 readonly, 3 type, 4 schema, 5 span): OK once
    per name, BadArgument for a name declared already or a malformed message (Envoy)."""
    try:
        name = _bytes_field(protowire.fields(argument), 1)
    except ValueError:
        return abi.BAD_ARGUMENT, b""
    if name in declared:
        return abi.BAD_ARGUMENT, b""
    declared.add(name)
    return abi.OK, b""


def _verify_signature(argument: bytes, _declared: set[bytes]) -> tuple[int, bytes]:
    return verify_signature(argument)


#: name -> function(argument, the VM's declared property names) -> (status, result)
FOREIGN_FUNCTIONS: dict[str, ForeignFunction] = {
    "verify_signature": _verify_signature, "clear_route_cache": clear_route_cache,
    "declare_property": declare_property,
}


def call_foreign_function(name: bytes, argument: bytes,
                          declared: set[bytes] | None = None) -> tuple[int, bytes]:
    """(status, result) of the foreign function ``name`` for a VM whose declared property
    names are ``declared`` (None: none yet, kept nowhere); NotFound when there is none, as
    Envoy answers."""
    function = FOREIGN_FUNCTIONS.get(name.decode("utf-8", "replace"))
    if function is None:
        return abi.NOT_FOUND, b""
    return function(argument, set() if declared is None else declared)

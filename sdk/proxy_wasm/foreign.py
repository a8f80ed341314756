"""Functions the proxy offers beyond the ABI, through ``proxy_call_foreign_function``.

Each proxy registers its own set by name; a name it does not know answers None here, so a
filter can fall back to doing the work itself.  Envoy 1.40 registers, among others,
``verify_signature``, which checks a public-key signature with Envoy's own crypto library
(BoringSSL): measured in Envoy 1.40, a 2048-bit RSA check costs about a third of the same
arithmetic in the module's interpreter (Envoy parses the key again on every call).  The harness
offers it too (``meshwasm.harness.foreign``).
"""

from __future__ import annotations

from . import _hostcalls
from .protowire import field as _field


def call(name: str, argument: bytes = b"") -> bytes | None:
    """The result of the proxy's foreign function ``name``, or None when it has none.
    Other failures (a malformed argument: BadArgument) raise ``HostCallError``."""
    return _hostcalls.abi.call_foreign_function(name, argument)


def verify_signature(hash_function: str, public_key_der: bytes, signature: bytes,
                     text: bytes) -> bool | None:
    """Whether ``signature`` signs ``text`` for the key (DER SubjectPublicKeyInfo; RSA keys
    check PKCS#1 v1.5, EC keys ECDSA with a DER signature), hashed with ``hash_function``
    ("sha256", "sha384", "sha512", …).  None when the proxy has no ``verify_signature`` or
    cannot load the key: then verify in Python."""
    argument = (_field(1, hash_function.encode("ascii")) + _field(2, public_key_der)
                + _field(3, signature) + _field(4, text))
    try:
        result = call("verify_signature", argument)
    except (_hostcalls.HostCallError, RuntimeError):  # a key the proxy cannot load; no host
        return None
    if result is None:
        return None
    # VerifySignatureResult: field 1 (varint) is the answer; absent means false.
    return result[:2] == b"\x08\x01"


def clear_route_cache() -> bool:
    """Ask the proxy to pick the route again (after the filter changed what the route
    matches on, e.g. a header); False when the proxy has no ``clear_route_cache``."""
    return call("clear_route_cache") is not None


#: ``declare_property`` value types and life spans (Envoy's ``WasmType``, ``LifeSpan``)
PROPERTY_TYPES = {"bytes": 0, "string": 1, "flatbuffers": 2, "protobuf": 3}
PROPERTY_SPANS = {"filter_chain": 0, "downstream_request": 1, "downstream_connection": 2}


def declare_property(name: str, value_type: str = "bytes", span: str = "filter_chain",
                     readonly: bool = False, schema: bytes = b"") -> bool | None:
    """Declare the filter-state property ``name`` before ``properties.set`` writes it:
    its type (``PROPERTY_TYPES``: how CEL and access logs read it), how long it lives
    (``PROPERTY_SPANS``) and whether it can be written once only.  True when declared,
    False when the proxy refuses it (a name declared already), None when the proxy has no
    ``declare_property``."""
    argument = (_field(1, name.encode()) + _field(2, int(readonly))
                + _field(3, PROPERTY_TYPES[value_type]) + _field(4, schema)
                + _field(5, PROPERTY_SPANS[span]))
    try:
        return call("declare_property", argument) is not None
    except _hostcalls.HostCallError:  # refused
        return False

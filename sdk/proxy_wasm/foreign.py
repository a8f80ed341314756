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
    except RuntimeError:  # HostCallError (a key the proxy cannot load), or no host bound
        return None
    if result is None:
        return None
    # VerifySignatureResult: field 1 (varint) is the answer; absent means false.
    return result[:2] == b"\x08\x01"

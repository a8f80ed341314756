"""The RSA public key of a PEM X.509 certificate: just enough DER to reach the certificate's
SubjectPublicKeyInfo (RFC 5280 section 4.1), for the key-set form Envoy's JWT library reads
as ``{"<kid>": "<PEM certificate>", ...}``.  As Envoy's, only RSA keys are taken.
"""

from __future__ import annotations

import binascii

PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
PEM_END = "-----END CERTIFICATE-----"
_SEQUENCE, _INTEGER, _BIT_STRING, _OID = 0x30, 0x02, 0x03, 0x06
_VERSION_TAG = 0xA0  # [0] EXPLICIT version, optional
RSA_ENCRYPTION = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1


class X509Error(ValueError):
    """A certificate that cannot give an RSA public key."""


def _element(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER element at ``at``."""
    if at + 2 > len(data):
        raise X509Error("truncated DER")
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or at + count > len(data):
            raise X509Error("bad DER length")
        length = int.from_bytes(data[at:at + count], "big")
        at += count
    if at + length > len(data):
        raise X509Error("truncated DER")
    return tag, at, at + length


def _expect(data: bytes, at: int, tag: int) -> tuple[int, int]:
    found, start, end = _element(data, at)
    if found != tag:
        raise X509Error(f"expected DER tag {tag:#x}, found {found:#x}")
    return start, end


def pem_body(pem: str) -> bytes:
    """The DER bytes of a PEM certificate."""
    text = pem.strip()
    if not (text.startswith(PEM_BEGIN) and text.endswith(PEM_END)):
        raise X509Error("not a PEM certificate")
    try:
        return binascii.a2b_base64(text[len(PEM_BEGIN):-len(PEM_END)].encode("ascii"),
                                   strict_mode=False)
    except (binascii.Error, UnicodeEncodeError):
        raise X509Error("PEM body is not base64") from None


def rsa_public_numbers(pem: str) -> tuple[int, int]:
    """(n, e) of the certificate's RSA key; raises ``X509Error``."""
    der = pem_body(pem)
    start, _ = _expect(der, 0, _SEQUENCE)  # Certificate
    at, tbs_end = _expect(der, start, _SEQUENCE)  # TBSCertificate
    if der[at:at + 1] == bytes([_VERSION_TAG]):
        at = _element(der, at)[2]
    # serialNumber, signature, issuer, validity, subject: skipped
    for _ in range(5):
        at = _element(der, at)[2]
    start, _ = _expect(der, at, _SEQUENCE)  # SubjectPublicKeyInfo
    algorithm, algorithm_end = _expect(der, start, _SEQUENCE)
    oid_start, oid_end = _expect(der, algorithm, _OID)
    if der[oid_start:oid_end] != RSA_ENCRYPTION:
        raise X509Error("the certificate's key is not an RSA key")
    bits, bits_end = _expect(der, algorithm_end, _BIT_STRING)
    if bits_end > tbs_end or der[bits:bits + 1] != b"\0":
        raise X509Error("bad subjectPublicKey")
    key, _ = _expect(der, bits + 1, _SEQUENCE)  # RSAPublicKey
    n_start, n_end = _expect(der, key, _INTEGER)
    e_start, e_end = _expect(der, n_end, _INTEGER)
    return (int.from_bytes(der[n_start:n_end], "big"),
            int.from_bytes(der[e_start:e_end], "big"))

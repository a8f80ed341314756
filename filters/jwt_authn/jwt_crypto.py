"""Signature checks for JWS, in pure Python (stdlib only): HMAC, RSA PKCS#1 v1.5, RSA-PSS and
ECDSA on P-256.  Every function is safe to call with hostile input: it returns False, never
raises, for a signature of the wrong size or shape.

Keys are prepared once (``RsaKey``, ``EcKey``, ``HmacKey``) when a JWKS is loaded, so a
verification does only the arithmetic it must.
"""

from __future__ import annotations

# hmac.compare_digest is this function when OpenSSL is absent (as inside the module): a
# comparison whose time does not depend on where the inputs differ.
from _operator import _compare_digest as compare_digest

# The builtin hash modules, not hashlib (hashlib and hmac drag logging into the module, and
# hashlib finds these only through an optional import a compiled filter does not bundle).
from _sha256 import sha256
from _sha512 import sha384, sha512

from proxy_wasm import foreign

HASHES = {"256": sha256, "384": sha384, "512": sha512}

# DER DigestInfo prefixes of RFC 8017 section 9.2, note 1.
_DIGEST_INFO = {
    "256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


class HmacKey:
    """A shared secret.  HMAC (RFC 2104) with the inner and outer hash states keyed once, so
    a check only copies them."""

    kty = "oct"

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self._states = {}
        for bits, digest in HASHES.items():
            block = digest().block_size
            key = digest(secret).digest() if len(secret) > block else secret
            key = key.ljust(block, b"\0")
            self._states[bits] = (digest(bytes(b ^ 0x36 for b in key)),
                                  digest(bytes(b ^ 0x5C for b in key)))

    def sign(self, bits: str, message: bytes) -> bytes:
        inner, outer = self._states[bits]
        inner = inner.copy()
        inner.update(message)
        outer = outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def verify(self, bits: str, message: bytes, signature: bytes) -> bool:
        return compare_digest(self.sign(bits, message), signature)


class RsaKey:
    """An RSA public key (modulus ``n``, exponent ``e``)."""

    kty = "RSA"

    def __init__(self, n: int, e: int) -> None:
        if n.bit_length() < 1024 or e < 3 or e % 2 == 0 or e >= n:
            raise ValueError("RSA key must have a modulus of at least 1024 bits and an odd "
                             "exponent >= 3")
        self.n = n
        self.e = e
        self.size = (n.bit_length() + 7) // 8
        self.der = _rsa_public_key_der(n, e)  # for the proxy's own verify_signature
        # RS256/384/512: the PKCS#1 v1.5 block but the digest, as an int (filled per check)
        self._pkcs1: dict[str, int] = {}
        for bits, prefix in _DIGEST_INFO.items():
            digest_size = HASHES[bits]().digest_size
            padding = self.size - len(prefix) - digest_size - 3
            if padding >= 8:
                block = b"\x00\x01" + b"\xff" * padding + b"\x00" + prefix
                self._pkcs1[bits] = int.from_bytes(block, "big") << (8 * digest_size)

    def _open(self, signature: bytes, length: int) -> bytes | None:
        if len(signature) != self.size:
            return None
        s = int.from_bytes(signature, "big")
        if s >= self.n:
            return None
        m = pow(s, self.e, self.n)
        if m.bit_length() > 8 * length:
            return None
        return m.to_bytes(length, "big")

    def verify_pkcs1(self, bits: str, message: bytes, signature: bytes) -> bool:
        """RSASSA-PKCS1-v1_5 (RS256/384/512): the opened signature must equal the expected
        block (compared as integers: both are public, no secret is timed)."""
        block = self._pkcs1.get(bits)
        if block is None or len(signature) != self.size:
            return False
        s = int.from_bytes(signature, "big")
        if s >= self.n:
            return False
        # The proxy's crypto library when it offers one (Envoy: BoringSSL, about 3x cheaper than
        # pow() in the module); the same check in Python otherwise.
        verdict = foreign.verify_signature(f"sha{bits}", self.der, signature, message)
        if verdict is not None:
            return verdict
        digest = int.from_bytes(HASHES[bits](message).digest(), "big")
        return pow(s, self.e, self.n) == block | digest

    def verify_pss(self, bits: str, message: bytes, signature: bytes) -> bool:
        """RSASSA-PSS (PS256/384/512) with MGF1 of the same hash and a salt as long as it."""
        digest = HASHES[bits]
        h_len = digest().digest_size
        em_bits = self.n.bit_length() - 1
        em_len = (em_bits + 7) // 8
        if em_len < 2 * h_len + 2:
            return False
        encoded = self._open(signature, em_len)
        if encoded is None or encoded[-1] != 0xBC:
            return False
        masked, h = encoded[:em_len - h_len - 1], encoded[em_len - h_len - 1:-1]
        spare_bits = 8 * em_len - em_bits  # leftmost bits of the block that must be 0
        if spare_bits and masked[0] >> (8 - spare_bits):
            return False
        mask = _mgf1(digest, h, len(masked))
        db = (int.from_bytes(masked, "big") ^ int.from_bytes(mask, "big"))
        db &= (1 << (8 * len(masked) - spare_bits)) - 1
        block = db.to_bytes(len(masked), "big")
        zeros = em_len - 2 * h_len - 2
        if block[:zeros] != bytes(zeros) or block[zeros] != 1:
            return False
        salt = block[zeros + 1:]
        expected = digest(bytes(8) + digest(message).digest() + salt).digest()
        return compare_digest(h, expected)


def _mgf1(digest: object, seed: bytes, length: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += digest(seed + counter.to_bytes(4, "big")).digest()  # type: ignore[operator]
        counter += 1
    return bytes(out[:length])


# ---- ECDSA on P-256 (NIST curve, a = -3), Jacobian coordinates ------------------------------
P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5

Point = tuple  # (X, Y, Z) Jacobian; Z == 0 is the point at infinity
_INFINITY = (1, 1, 0)


def _double(point: Point) -> Point:
    x1, y1, z1 = point
    if z1 == 0 or y1 == 0:
        return _INFINITY
    delta = z1 * z1 % P
    gamma = y1 * y1 % P
    beta = x1 * gamma % P
    alpha = 3 * (x1 - delta) * (x1 + delta) % P
    x3 = (alpha * alpha - 8 * beta) % P
    z3 = ((y1 + z1) ** 2 - gamma - delta) % P
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % P
    return (x3, y3, z3)


def _add(first: Point, second: Point) -> Point:
    x1, y1, z1 = first
    x2, y2, z2 = second
    if z1 == 0:
        return second
    if z2 == 0:
        return first
    z1z1 = z1 * z1 % P
    z2z2 = z2 * z2 % P
    u1 = x1 * z2z2 % P
    u2 = x2 * z1z1 % P
    s1 = y1 * z2 * z2z2 % P
    s2 = y2 * z1 * z1z1 % P
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    if h == 0:
        return _double(first) if r == 0 else _INFINITY
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    y3 = (r * (v - x3) - s1 * hhh) % P
    z3 = z1 * z2 * h % P
    return (x3, y3, z3)


def on_curve(x: int, y: int) -> bool:
    """Whether (x, y) is a finite point of P-256 (coordinates reduced mod p)."""
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x - 3 * x + B)) % P == 0


class EcKey:
    """A P-256 public key; the table of G, Q and G+Q makes verification one joint ladder."""

    kty = "EC"

    def __init__(self, x: int, y: int) -> None:
        if not on_curve(x, y):
            raise ValueError("EC key is not a point on P-256")
        self.x, self.y = x, y
        g, q = (GX, GY, 1), (x, y, 1)
        self._table = (_INFINITY, g, q, _add(g, q))

    def verify(self, message: bytes, signature: bytes) -> bool:
        """ES256: ``signature`` is r || s, 32 bytes each (JWS form, not DER)."""
        if len(signature) != 64:
            return False
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        if not (0 < r < N and 0 < s < N):
            return False
        e = int.from_bytes(sha256(message).digest(), "big")
        w = pow(s, -1, N)
        u1, u2 = e * w % N, r * w % N
        table = self._table
        acc = _INFINITY
        for bit in range(max(u1.bit_length(), u2.bit_length()) - 1, -1, -1):
            acc = _double(acc)
            index = ((u1 >> bit) & 1) | (((u2 >> bit) & 1) << 1)
            if index:
                acc = _add(acc, table[index])
        x, _, z = acc
        if z == 0:
            return False
        z_inv = pow(z, -1, P)
        return x * z_inv * z_inv % P % N == r


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _der_integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))  # leading 0: positive


_RSA_ENCRYPTION = bytes.fromhex("300d06092a864886f70d0101010500")  # AlgorithmIdentifier


def _rsa_public_key_der(n: int, e: int) -> bytes:
    """SubjectPublicKeyInfo (RFC 5280) of an RSA public key, DER-encoded."""
    key = _der(0x30, _der_integer(n) + _der_integer(e))
    return _der(0x30, _RSA_ENCRYPTION + _der(0x03, b"\x00" + key))

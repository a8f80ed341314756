"""Signature checks for JWS, in pure Python (stdlib only): HMAC, RSA PKCS#1 v1.5, RSA-PSS and
ECDSA on P-256, P-384 and P-521 (EdDSA is in ``jwt_eddsa``).  Every function is safe to call
with hostile input: it returns False, never raises, for a signature of the wrong size or
shape.

Keys are prepared once (``RsaKey``, ``EcKey``, ``HmacKey``) when a JWKS is loaded, so a
verification does only the arithmetic it must.
"""

from __future__ import annotations

# hmac.compare_digest is this function when OpenSSL is absent (as inside the module): a
# comparison whose time does not depend on where the inputs differ.
from _operator import _compare_digest as compare_digest

TYPE_CHECKING = False  # not `from typing`: that would bundle typing into the module
if TYPE_CHECKING:  # the same functions, where type stubs exist
    from functools import partial
    from hashlib import sha256, sha384, sha512
else:
    from _functools import partial  # (functools itself drags more modules into the build)

    # The builtin hash modules, not hashlib (hashlib and hmac drag logging into the module,
    # and hashlib finds these only through an optional import a compiled filter does not
    # bundle).
    from _sha256 import sha256
    from _sha512 import sha384, sha512

from jwt_ladder import SIZE, joint_ladder
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


# ---- ECDSA on the NIST prime curves (a = -3), Jacobian coordinates --------------------------


class Curve:
    """A curve y^2 = x^3 - 3x + b over GF(p) with generator (gx, gy) of prime order n, as
    ES256/384/512 use it: ``size`` bytes per coordinate (and per r and s of a JWS), ``bits``
    of SHA-2 for the message digest."""

    __slots__ = ("name", "p", "n", "b", "gx", "gy", "size", "bits", "oid")

    def __init__(self, name: str, bits: str, p: int, n: int, b: int, gx: int, gy: int) -> None:
        self.name, self.bits = name, bits
        self.oid = _CURVE_OIDS[name]  # DER, for the proxy's verify_signature
        self.p, self.n, self.b, self.gx, self.gy = p, n, b, gx, gy
        self.size = (p.bit_length() + 7) // 8

    def on_curve(self, x: int, y: int) -> bool:
        """Whether (x, y) is a finite point of the curve (coordinates reduced mod p)."""
        p = self.p
        return 0 <= x < p and 0 <= y < p and (y * y - (x * x * x - 3 * x + self.b)) % p == 0


# namedCurve object identifiers (RFC 5480), DER-encoded
_CURVE_OIDS = {"P-256": bytes.fromhex("06082a8648ce3d030107"),
               "P-384": bytes.fromhex("06052b81040022"),
               "P-521": bytes.fromhex("06052b81040023")}


def _hex(text: str) -> int:
    return int(text.replace(" ", ""), 16)


# FIPS 186-4 D.1.2 (the generators and b are checked against ``cryptography`` in the tests).
P256 = Curve("P-256", "256", 2**256 - 2**224 + 2**192 + 2**96 - 1,
             _hex("FFFFFFFF 00000000 FFFFFFFF FFFFFFFF BCE6FAAD A7179E84 F3B9CAC2 FC632551"),
             _hex("5AC635D8 AA3A93E7 B3EBBD55 769886BC 651D06B0 CC53B0F6 3BCE3C3E 27D2604B"),
             _hex("6B17D1F2 E12C4247 F8BCE6E5 63A440F2 77037D81 2DEB33A0 F4A13945 D898C296"),
             _hex("4FE342E2 FE1A7F9B 8EE7EB4A 7C0F9E16 2BCE3357 6B315ECE CBB64068 37BF51F5"))
P384 = Curve("P-384", "384", 2**384 - 2**128 - 2**96 + 2**32 - 1,
             _hex("FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF C7634D81 F4372DDF"
                  "581A0DB2 48B0A77A ECEC196A CCC52973"),
             _hex("B3312FA7 E23EE7E4 988E056B E3F82D19 181D9C6E FE814112 0314088F 5013875A"
                  "C656398D 8A2ED19D 2A85C8ED D3EC2AEF"),
             _hex("AA87CA22 BE8B0537 8EB1C71E F320AD74 6E1D3B62 8BA79B98 59F741E0 82542A38"
                  "5502F25D BF55296C 3A545E38 72760AB7"),
             _hex("3617DE4A 96262C6F 5D9E98BF 9292DC29 F8F41DBD 289A147C E9DA3113 B5F0B8C0"
                  "0A60B1CE 1D7E819D 7A431D7C 90EA0E5F"))
P521 = Curve("P-521", "512", 2**521 - 1,
             _hex("01FF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFA"
                  "51868783 BF2F966B 7FCC0148 F709A5D0 3BB5C9B8 899C47AE BB6FB71E 91386409"),
             _hex("0051 953EB961 8E1C9A1F 929A21A0 B68540EE A2DA725B 99B315F3 B8B48991 8EF109E1"
                  "56193951 EC7E937B 1652C0BD 3BB1BF07 3573DF88 3D2C34F1 EF451FD4 6B503F00"),
             _hex("00C6 858E06B7 0404E9CD 9E3ECB66 2395B442 9C648139 053FB521 F828AF60 6B4D3DBA"
                  "A14B5E77 EFE75928 FE1DC127 A2FFA8DE 3348B3C1 856A429B F97E7E31 C2E5BD66"),
             _hex("0118 39296A78 9A3BC004 5C8A5FB4 2C7D1BD9 98F54449 579B4468 17AFBD17 273E662C"
                  "97EE7299 5EF42640 C550B901 3FAD0761 353C7086 A272C240 88BE9476 9FD16650"))
#: JWS alg -> curve; a JWK's ``crv`` -> curve
ES_CURVES = {"ES256": P256, "ES384": P384, "ES512": P521}
CURVES = {curve.name: curve for curve in ES_CURVES.values()}

if TYPE_CHECKING:
    Point = tuple[int, int, int]  # (X, Y, Z) Jacobian; Z == 0 is the point at infinity
_INFINITY = (1, 1, 0)


def _double(p: int, point: Point) -> Point:
    x1, y1, z1 = point
    if z1 == 0 or y1 == 0:
        return _INFINITY
    delta = z1 * z1 % p
    gamma = y1 * y1 % p
    beta = x1 * gamma % p
    alpha = 3 * (x1 - delta) * (x1 + delta) % p
    x3 = (alpha * alpha - 8 * beta) % p
    z3 = ((y1 + z1) ** 2 - gamma - delta) % p
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % p
    return (x3, y3, z3)


def _add_affine(p: int, first: Point, second: tuple[int, int]) -> Point:
    """``first`` + ``second``, the second point affine (Z = 1: the mixed addition, five
    multiplications fewer than two Jacobian points need)."""
    x1, y1, z1 = first
    x2, y2 = second
    if z1 == 0:
        return (x2, y2, 1)
    z1z1 = z1 * z1 % p
    h = (x2 * z1z1 - x1) % p
    r = (y2 * z1 * z1z1 - y1) % p
    if h == 0:
        return _double(p, first) if r == 0 else _INFINITY
    hh = h * h % p
    hhh = h * hh % p
    v = x1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    y3 = (r * (v - x3) - y1 * hhh) % p
    return (x3, y3, z1 * h % p)


def _affine(p: int, point: Point) -> tuple[int, int] | None:
    x, y, z = point
    if z == 0:
        return None
    z_inv = pow(z, -1, p)
    return (x * z_inv * z_inv % p, y * z_inv * z_inv * z_inv % p)


class EcKey:
    """A public key Q on ``curve``.  Verification computes u1 G + u2 Q with ``joint_ladder``
    from a table of i G + j Q made once per key (affine, so the additions are mixed)."""

    kty = "EC"

    def __init__(self, x: int, y: int, curve: Curve = P256) -> None:
        if not curve.on_curve(x, y):
            raise ValueError(f"EC key is not a point on {curve.name}")
        self.x, self.y, self.curve = x, y, curve
        self.der = _ec_public_key_der(curve, x, y)  # for the proxy's own verify_signature
        p = curve.p
        multiples_g, multiples_q = [_INFINITY], [_INFINITY]
        for _ in range(1, SIZE):
            multiples_g.append(_add_affine(p, multiples_g[-1], (curve.gx, curve.gy)))
            multiples_q.append(_add_affine(p, multiples_q[-1], (x, y)))
        affine_q = [_affine(p, point) for point in multiples_q]
        self._table = tuple(
            _affine(p, multiples_g[i] if q is None else _add_affine(p, multiples_g[i], q))
            for q in affine_q for i in range(SIZE))
        self._double = partial(_double, p)
        self._add = partial(_add_affine, p)

    def verify(self, bits: str, message: bytes, signature: bytes) -> bool:
        """ES256/384/512 with SHA-``bits``: ``signature`` is r || s, each as long as a
        coordinate of the key's curve (JWS form, not DER)."""
        curve = self.curve
        size, n, p = curve.size, curve.n, curve.p
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        if not (0 < r < n and 0 < s < n):
            return False
        # The proxy's crypto library when it offers one (Envoy: BoringSSL, far cheaper than the
        # ladder below in the module); the same check in Python otherwise.
        der_signature = _der(0x30, _der_integer(r) + _der_integer(s))
        verdict = foreign.verify_signature(f"sha{bits}", self.der, der_signature, message)
        if verdict is not None:
            return verdict
        digest = HASHES[bits](message).digest()
        e = int.from_bytes(digest, "big")
        excess = 8 * len(digest) - n.bit_length()
        if excess > 0:  # FIPS 186-4 6.4: the leftmost bits of the digest, as many as n has
            e >>= excess
        w = pow(s, -1, n)
        x, _, z = joint_ladder(e * w % n, r * w % n, self._table, _INFINITY, self._double,
                               self._add)
        if z == 0:
            return False
        z_inv = pow(z, -1, p)
        return bool(x * z_inv * z_inv % p % n == r)


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


_EC_PUBLIC_KEY = bytes.fromhex("06072a8648ce3d0201")  # id-ecPublicKey


def _ec_public_key_der(curve: Curve, x: int, y: int) -> bytes:
    """SubjectPublicKeyInfo (RFC 5480) of an EC public key, uncompressed point, DER-encoded."""
    point = b"\x04" + x.to_bytes(curve.size, "big") + y.to_bytes(curve.size, "big")
    return _der(0x30, _der(0x30, _EC_PUBLIC_KEY + curve.oid) + _der(0x03, b"\x00" + point))

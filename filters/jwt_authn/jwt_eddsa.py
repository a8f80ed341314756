"""Ed25519 signature checks (RFC 8032 section 5.1.7) in pure Python, for JWS alg ``EdDSA``.

As BoringSSL's ``ED25519_verify`` (Envoy's): ``S`` must be below the group order, ``A`` must
decode to a curve point, and ``[S]B - [k]A`` must encode to exactly the bytes of ``R`` (no
cofactor).  Verification handles public values only; like BoringSSL's it is not
constant-time.  Points are in extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `from typing`: that would bundle typing into the module
if TYPE_CHECKING:
    from hashlib import sha512  # the same function; _sha512 has no type stubs
else:
    from _sha512 import sha512

from jwt_ladder import SIZE, joint_ladder

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # order of the base point
D = -121665 * pow(121666, -1, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
SIGNATURE_BYTES = 64
KEY_BYTES = 32

if TYPE_CHECKING:
    ExtendedPoint = tuple[int, int, int, int]  # (X, Y, Z, T)
_NEUTRAL = (0, 1, 1, 0)


def _add(first: ExtendedPoint, second: ExtendedPoint) -> ExtendedPoint:
    """Addition on the twisted Edwards curve -x^2 + y^2 = 1 + d x^2 y^2 (complete: also
    doubles)."""
    x1, y1, z1, t1 = first
    x2, y2, z2, t2 = second
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _double(point: ExtendedPoint) -> ExtendedPoint:
    x1, y1, z1, _ = point
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    e = h - (x1 + y1) ** 2 % P
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def decode_point(raw: bytes) -> ExtendedPoint | None:
    """The point a 32-byte encoding names (y little-endian, the top bit x's sign), or None."""
    if len(raw) != KEY_BYTES:
        return None
    value = int.from_bytes(raw, "little")
    sign = value >> 255
    y = value & ((1 << 255) - 1)
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    # x = sqrt(u/v) = u v^3 (u v^7)^((p-5)/8), then fixed up by sqrt(-1) (RFC 8032 5.1.3)
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    check = v * x * x % P
    if check == (-u) % P:
        x = x * SQRT_M1 % P
    elif check != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def encode_point(point: ExtendedPoint) -> bytes:
    x, y, z, _ = point
    z_inv = pow(z, -1, P)
    x, y = x * z_inv % P, y * z_inv % P
    return (y | ((x & 1) << 255)).to_bytes(KEY_BYTES, "little")


def _base_point() -> ExtendedPoint:
    """B: y = 4/5, x even (RFC 8032 section 5.1)."""
    point = decode_point((4 * pow(5, -1, P) % P).to_bytes(KEY_BYTES, "little"))
    assert point is not None
    return point


BASE = _base_point()


class Ed25519Key:
    """An Ed25519 public key (``crv`` Ed25519 of a ``kty`` OKP JWK)."""

    kty = "OKP"

    def __init__(self, raw: bytes) -> None:
        point = decode_point(raw)
        if point is None:
            raise ValueError("Ed25519 key is not a point on the curve")
        self.raw = raw
        x, y, z, t = point
        minus_a = ((-x) % P, y, z, (-t) % P)
        # joint_ladder's table: i B - j A (the neutral point, at 0, skipped as None)
        multiples_b, multiples_a = [_NEUTRAL], [_NEUTRAL]
        for _ in range(1, SIZE):
            multiples_b.append(_add(multiples_b[-1], BASE))
            multiples_a.append(_add(multiples_a[-1], minus_a))
        table: list[ExtendedPoint | None] = [_add(multiples_b[i], multiples_a[j])
                                             for j in range(SIZE) for i in range(SIZE)]
        table[0] = None
        self._table = tuple(table)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (R || S, 64 bytes) signs ``message``: [S]B - [k]A, computed
        in one ladder over both scalars, must encode to R."""
        if len(signature) != SIGNATURE_BYTES:
            return False
        s = int.from_bytes(signature[32:], "little")
        if s >= L:
            return False
        r_bytes = signature[:32]
        k = int.from_bytes(sha512(r_bytes + self.raw + message).digest(), "little") % L
        point = joint_ladder(s, k, self._table, _NEUTRAL, _double, _add)
        return encode_point(point) == r_bytes

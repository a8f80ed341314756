"""One small, deterministic use of each standard-library module a filter may import.

Each function returns JSON-able data; the stdlib test runs every one inside a built module
and in source mode and compares the answers.  Nothing here reads the clock, the environment
or unseeded randomness: the answers must not depend on where they run.
"""

from __future__ import annotations

import array
import base64
import binascii
import bisect
import calendar
import cmath
import codecs
import collections
import colorsys
import copy
import csv
import dataclasses
import datetime
import decimal
import difflib
import enum
import fnmatch
import fractions
import functools
import graphlib
import hashlib
import heapq
import hmac
import html
import html.parser
import http
import http.cookies
import io
import ipaddress
import itertools
import json
import math
import operator
import pickle
import pprint
import quopri
import random
import re
import secrets
import shlex
import statistics
import string
import struct
import textwrap
import typing
import unicodedata
import urllib.parse
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import PurePosixPath

Result = object
# At module level, as a filter must: namedtuple() compiles code, and a built module has no
# compiler once its snapshot is taken (a namedtuple made in a callback raises RuntimeError).
Point = collections.namedtuple("Point", "x y")
MESSAGE = b"The quick brown fox jumps over the lazy dog"


def _hashlib() -> Result:
    names = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_256", "sha3_512",
             "blake2b", "blake2s"]
    digests = {name: hashlib.new(name, MESSAGE).hexdigest() for name in names}
    digests["sha256_attr"] = hashlib.sha256(MESSAGE).hexdigest()
    digests["md5_attr"] = hashlib.md5(MESSAGE).hexdigest()
    digests["shake_128"] = hashlib.shake_128(MESSAGE).hexdigest(16)
    digests["blake2b_keyed"] = hashlib.blake2b(MESSAGE, key=b"k", digest_size=16).hexdigest()
    digests["pbkdf2"] = hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 10).hex()
    return digests


def _hmac() -> Result:
    return {"sha256": hmac.new(b"key", MESSAGE, "sha256").hexdigest(),
            "sha1": hmac.new(b"key", MESSAGE, hashlib.sha1).hexdigest(),
            "digest": hmac.digest(b"key", MESSAGE, "sha512").hex(),
            "compare": hmac.compare_digest(b"a", b"a")}


def _decimal() -> Result:
    context = decimal.Context(prec=30)
    third = context.divide(decimal.Decimal(1), decimal.Decimal(3))
    return {"third": str(third), "sum": str(decimal.Decimal("0.1") + decimal.Decimal("0.2")),
            "quantize": str(decimal.Decimal("2.675").quantize(decimal.Decimal("0.01"))),
            "sqrt": str(context.sqrt(decimal.Decimal(2)))}


def _statistics() -> Result:
    data = [2.5, 3.25, 5.75, 1.0, 4.0, 4.0]
    return {"mean": statistics.mean(data), "median": statistics.median(data),
            "stdev": statistics.stdev(data), "mode": statistics.mode(data),
            "quantiles": statistics.quantiles(data, n=4),
            "fmean": statistics.fmean([1, 2, 3]),
            "normal": statistics.NormalDist(0, 1).cdf(1.0)}


def _math() -> Result:
    return {"pow": pow(3, 200, 10**40 + 7), "big": str(2**521 - 1)[:40],
            "digits": len(str(7**1000)), "gcd": math.gcd(2**64, 6**30),
            "isqrt": math.isqrt(10**60 + 12345), "comb": math.comb(60, 30),
            # correctly rounded everywhere; exp/lgamma may differ in the last bit between
            # musl's libm (in the module) and glibc's (source mode), so they are rounded
            "float": [math.sqrt(2), math.fsum([0.1] * 10), 1e300 * 10, 0.1 + 0.2,
                      round(math.exp(1), 12), round(math.lgamma(4.5), 12)],
            "cmath": str(cmath.sqrt(-4 + 3j)), "divmod": divmod(-(10**30) - 7, 10**15 + 3),
            "bytes": (2**200 + 12345).to_bytes(26, "big").hex()}


def _modular_pow() -> Result:
    """pow(b, e, m) on the sizes RSA uses, odd and even moduli, inverses: the module's
    CPython (30-bit digits, built by meshwasm) must give the host's numbers."""
    generator = random.Random(8)
    answers = []
    for bits in (255, 256, 257, 511, 1024, 2048, 3072, 4096):
        modulus = generator.getrandbits(bits) | (1 << (bits - 1)) | 1
        for base in (0, 1, 2, modulus - 1, modulus, modulus + 5, generator.getrandbits(bits),
                     generator.getrandbits(bits + 70), -generator.getrandbits(bits)):
            for exponent in (0, 1, 2, 3, 65537, generator.getrandbits(bits), 2**64 + 1):
                answers.append(pow(base, exponent, modulus) % 1000003)
        answers.append(pow(modulus - 2, -1, modulus))  # a modular inverse: CPython's path
        answers.append(pow(7, 12345, modulus + 1))  # an even modulus: CPython's path
        answers.append(pow(True, 5, modulus))
    return {"count": len(answers), "digest": hashlib.sha256(repr(answers).encode()).hexdigest(),
            "rsa": hex(pow(generator.getrandbits(2040), 65537,
                           generator.getrandbits(2048) | (1 << 2047) | 1))[:40]}


def _fractions() -> Result:
    value = fractions.Fraction(3, 7) + fractions.Fraction("1.25")
    return {"value": str(value), "limit": str(fractions.Fraction(math.pi).limit_denominator(1000))}


def _datetime() -> Result:
    moment = datetime.datetime(2026, 12, 1, 16, 30, 5, 123456, tzinfo=datetime.timezone.utc)
    shifted = moment.astimezone(datetime.timezone(datetime.timedelta(hours=-5, minutes=-30)))
    return {"iso": moment.isoformat(), "shifted": shifted.isoformat(),
            "timestamp": moment.timestamp(), "parsed": datetime.date.fromisoformat(
                "2024-02-29").isoformat(), "strftime": moment.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "strptime": datetime.datetime.strptime("01/12/2026 08:09", "%d/%m/%Y %H:%M").isoformat(),
            "weekday": calendar.weekday(2026, 12, 1), "leap": calendar.isleap(2100),
            "month": calendar.monthrange(2024, 2)}


def _json() -> Result:
    text = json.dumps({"b": [1, 2.5, None, True], "a": "é\u2603", "n": 10**20}, sort_keys=True)
    return {"text": text, "back": json.loads(text), "compact": json.dumps([1, {"x": "y"}],
                                                                         separators=(",", ":"))}


def _re() -> Result:
    pattern = re.compile(r"(?P<user>[\w.]+)@(?P<domain>[\w-]+\.[a-z]{2,})", re.IGNORECASE)
    found = [m.groupdict() for m in pattern.finditer("a.b@Example.com, c@d-e.org x@y")]
    return {"found": found, "sub": re.sub(r"\s+", " ", "a  b\t\nc"),
            "split": re.split(r"[,;]", "a,b;c"), "fullmatch": bool(re.fullmatch(r"\d{3}", "123"))}


def _encodings() -> Result:
    text = "Grüße, 世界 ☃"
    return {"b64": base64.b64encode(text.encode()).decode(),
            "urlsafe": base64.urlsafe_b64decode("aGk_Pz4-").hex(),
            "b32": base64.b32encode(b"abc").decode(), "b85": base64.b85encode(b"abc").decode(),
            "hexlify": binascii.hexlify(b"\x00\xff").decode(), "crc32": binascii.crc32(MESSAGE),
            "latin1": text.encode("latin-1", "replace").hex(), "utf16": text.encode("utf-16-le").hex(),
            "idna": "bücher.example".encode("idna").decode(),
            "shift_jis": codecs.encode("日本", "shift_jis").hex(),
            "quopri": quopri.encodestring(text.encode()).decode(),
            "unicodedata": [unicodedata.name("☃"), unicodedata.normalize("NFD", "é"),
                            unicodedata.category("世")]}


def _collections() -> Result:
    counter = collections.Counter("abracadabra")
    ordered = collections.OrderedDict(sorted(counter.items()))
    queue = collections.deque(range(5), maxlen=3)
    heap = [5, 1, 4, 2]
    heapq.heapify(heap)
    return {"counter": counter.most_common(2), "ordered": list(ordered.items()),
            "point": Point(1, 2)._asdict(), "deque": list(queue),
            "heap": [heapq.heappop(heap) for _ in range(4)],
            "bisect": bisect.bisect_left([1, 3, 5, 7], 4),
            "chain": list(itertools.chain.from_iterable([[1], [2, 3]])),
            "product": list(itertools.product("ab", repeat=2)),
            "reduce": functools.reduce(operator.mul, range(1, 10)),
            "array": array.array("i", [1, 2, 3]).tobytes().hex(),
            "graphlib": list(graphlib.TopologicalSorter({"b": {"a"}, "c": {"b"}}).static_order())}


@dataclasses.dataclass(frozen=True)
class _Rule:
    name: str
    weight: int = 1
    tags: tuple[str, ...] = ()


class _Color(enum.Enum):
    RED = 1
    GREEN = 2


def _types() -> Result:
    rule = _Rule("r", 3, ("a",))
    return {"asdict": dataclasses.asdict(rule), "replace": repr(dataclasses.replace(rule, weight=4)),
            "enum": [c.name for c in _Color], "lookup": _Color(2).name,
            "typing": str(typing.Optional[int]), "copy": copy.deepcopy({"a": [1, {"b": 2}]}),
            "pickle": pickle.loads(pickle.dumps({"r": [1, 2.5, "x"]})),
            "struct": struct.pack("<IhQ", 1, -2, 2**40).hex(),
            "struct_unpack": struct.unpack(">Hi", b"\x01\x02\xff\xff\xff\xfe")}


def _text() -> Result:
    return {"wrap": textwrap.wrap("lorem ipsum dolor sit amet consectetur", 12),
            "dedent": textwrap.dedent("  a\n  b"), "shlex": shlex.split("a 'b c' \"d\\\"e\""),
            "template": string.Template("$who likes $what").substitute(who="tim", what="kung pao"),
            "capwords": string.capwords("hello wide world"),
            "diff": list(difflib.unified_diff(["a\n", "b\n"], ["a\n", "c\n"], lineterm="")),
            "ratio": difflib.SequenceMatcher(None, "abcd", "bcde").ratio(),
            "fnmatch": fnmatch.fnmatch("api/v1/users", "api/*/users"),
            "pprint": pprint.pformat({"z": list(range(30)), "a": "x" * 10}, width=40),
            "format": f"{1234567.891:,.2f} {0.5:%} {255:#x} {-3:+05d}",
            "path": str(PurePosixPath("/a/b/../c.tar.gz").with_suffix(".zip")),
            "colorsys": colorsys.rgb_to_hsv(0.2, 0.4, 0.4)}


def _error_of(call: Callable[[], object]) -> str:
    try:
        return repr(call())
    except Exception as error:  # the exception's type and message are the answer
        return f"{type(error).__name__}: {error}"


def _str_methods() -> Result:
    """The argument forms of the search methods, `in` on bytes and the utf-8 codec spellings
    (the module's CPython has fast paths for these: they must answer alike)."""
    text, data = "/admin/users?id=7", b"/admin/users?id=7"
    return {
        "one_arg": [text.startswith("/admin"), text.endswith("7"), text.find("users"),
                    text.rfind("/"), text.count("/"), text.index("?"), text.rindex("i"),
                    data.startswith(b"/admin"), data.endswith(b"7"), data.find(b"users"),
                    data.count(b"/"), data.find(0x3F)],
        "ranges": [text.startswith("admin", 1), text.endswith("admin", 0, 6),
                   text.find("/", 1), text.count("/", 1, 7), text.startswith("u", -8, None),
                   data.startswith(b"admin", 1), data.find(b"/", 2, None)],
        "tuples": [text.startswith(("/x", "/admin")), text.endswith(("8", "9")),
                   data.startswith((b"/x", b"/ad"))],
        "errors": [_error_of(lambda: text.startswith(1)),  # type: ignore[arg-type]
                   _error_of(lambda: text.startswith()),  # type: ignore[call-arg]
                   _error_of(lambda: text.find("a", "b")),  # type: ignore[arg-type]
                   _error_of(lambda: text.index("zz")), _error_of(lambda: data.find("s")),  # type: ignore[arg-type]
                   _error_of(lambda: text.count("a", 1, 2, 3))],  # type: ignore[call-arg]
        # `in` on bytes: an int is a byte value, anything else a buffer to search (the
        # module skips asking a non-int for __index__); memchr past its 8-byte steps
        "contains": [b"?" in data, b"users?" in data, 0x3F in data, True in b"\x01",
                     bytearray(b"id") in data, memoryview(b"=7") in data, b"" in data,
                     b"7" in bytearray(data), data[:15] in data * 3, b"\x00" in bytes(40),
                     (b"." * 37 + b"!").find(b"!"), ("x" * 41 + "y").find("y"),
                     ("a,b" * 9).split(","), "y" in "x" * 19, _error_of(lambda: 256 in data),
                     _error_of(lambda: -1 in data), _error_of(lambda: "s" in data),  # type: ignore[operator]
                     _error_of(lambda: 1.5 in data)],  # type: ignore[operator]
        "codecs": [b"gr\xc3\xbc\xc3\x9fe".decode("utf-8"), b"gr\xc3\xbc".decode("UTF-8"),
                   b"\xff-".decode("utf-8", "replace"), b"\xff-".decode("utf8", "ignore"),
                   _error_of(lambda: b"\xff".decode("utf-8")), "\u00fc".encode("utf-8").hex(),
                   "\ud800".encode("utf-8", "surrogatepass").hex(),
                   _error_of(lambda: "\ud800".encode("utf-8")), str(b"x", "utf-8")],
    }


def _web() -> Result:
    url = urllib.parse.urlsplit("https://user@host.example:8443/p/a%20th;x?q=1&q=2&r=%E2%98%83#frag")
    cookie = http.cookies.SimpleCookie()
    cookie.load('session="abc=def"; theme=dark')

    class Links(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.links: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.links += [value or "" for name, value in attrs if name == "href"]

    parser = Links()
    parser.feed('<p><a href="/x?a=1&amp;b=2">x</a><a href="y">y</a></p>')
    root = ElementTree.fromstring("<r><i k='1'>a</i><i k='2'>b</i></r>")
    rows = list(csv.reader(io.StringIO('a,"b,c",d\n1,2,3\n')))
    out = io.StringIO()
    csv.writer(out).writerow(["x", "y,z"])
    return {"url": [url.scheme, url.hostname, url.port, url.path, url.query, url.fragment],
            "query": urllib.parse.parse_qs(url.query), "quote": urllib.parse.quote("a b/☃"),
            "urlencode": urllib.parse.urlencode({"a": "1 2", "b": "&"}),
            "join": urllib.parse.urljoin("https://h/a/b/c", "../d"),
            "cookies": {key: morsel.value for key, morsel in cookie.items()},
            "escape": html.escape("<a href='x'>&</a>"), "unescape": html.unescape("&lt;&eacute;&#x2603;"),
            "links": parser.links, "status": [http.HTTPStatus(429).phrase, int(http.HTTPStatus.NOT_FOUND)],
            "xml": [(e.get("k"), e.text) for e in root.iter("i")],
            "xml_out": ElementTree.tostring(root, encoding="unicode"),
            "csv": rows, "csv_out": out.getvalue(),
            "ip": [str(ipaddress.ip_address("10.1.2.3") in ipaddress.ip_network("10.0.0.0/8")),
                   str(ipaddress.ip_network("2001:db8::/32").broadcast_address),
                   ipaddress.ip_address("::ffff:1.2.3.4").ipv4_mapped.exploded]}


def _random() -> Result:
    generator = random.Random(1234)
    return {"random": generator.random(), "randint": generator.randint(1, 10**12),
            "choice": generator.choice("abcdef"), "sample": generator.sample(range(100), 5),
            "gauss": generator.gauss(0, 1), "bytes": generator.randbytes(8).hex(),
            "shuffle": generator.sample([1, 2, 3, 4, 5], 5),
            "seeded_str": random.Random("seed").random(),
            "uuid3": str(uuid.uuid3(uuid.NAMESPACE_DNS, "example.com")),
            "uuid5": str(uuid.uuid5(uuid.NAMESPACE_URL, "https://example.com")),
            # unseeded: only the shape is compared
            "token_len": len(secrets.token_urlsafe(16)), "uuid4_version": uuid.uuid4().version}


EXERCISES: dict[str, Callable[[], Result]] = {
    "hashlib": _hashlib, "hmac": _hmac, "decimal": _decimal, "statistics": _statistics,
    "math": _math, "fractions": _fractions, "datetime": _datetime, "json": _json, "re": _re,
    "encodings": _encodings, "collections": _collections, "types": _types, "text": _text,
    "web": _web, "random": _random, "str_methods": _str_methods, "modular_pow": _modular_pow,
}

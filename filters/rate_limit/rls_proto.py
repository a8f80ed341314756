"""``envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`` messages, by hand with
``proxy_wasm.protowire`` (a filter cannot bundle the ``protobuf`` package).

RateLimitRequest {domain 1, descriptors 2: RateLimitDescriptor {entries 1: Entry {key 1,
value 2}}, hits_addend 3}.
RateLimitResponse {overall_code 1 (UNKNOWN 0, OK 1, OVER_LIMIT 2), statuses 2:
DescriptorStatus {code 1, current_limit 2: RateLimit {requests_per_unit 1, unit 2, name 3},
limit_remaining 3, duration_until_reset 4: Duration {seconds 1}}, response_headers_to_add 3
and request_headers_to_add 4: HeaderValue {key 1, value 2}, raw_body 5}.
"""

from __future__ import annotations

from proxy_wasm.protowire import field, fields, records

SERVICE = "envoy.service.ratelimit.v3.RateLimitService"
METHOD = "ShouldRateLimit"
OK, OVER_LIMIT = 1, 2
#: RateLimit.Unit -> seconds, as Envoy's x-ratelimit headers count a window (UNKNOWN: none)
UNIT_SECONDS = {1: 1, 2: 60, 3: 3600, 4: 86400, 5: 30 * 86400, 6: 365 * 86400}


def request(domain: str, descriptors: list[tuple[tuple[str, str], ...]]) -> bytes:
    """A serialized ``RateLimitRequest`` (hits_addend left unset: one hit)."""
    out = field(1, domain.encode())
    for entries in descriptors:
        descriptor = b"".join(field(1, field(1, key.encode()) + field(2, value.encode()))
                              for key, value in entries)
        out += field(2, descriptor)
    return out


class Status:
    """One ``DescriptorStatus``: ``limit`` None when the service sent no current limit."""

    __slots__ = ("code", "limit", "unit", "name", "remaining", "reset_seconds")

    def __init__(self, message: bytes) -> None:
        top = fields(message)
        self.code = _int(top.get(1))
        self.remaining = _int(top.get(3))
        self.reset_seconds = _int(fields(_bytes(top.get(4))).get(1))
        self.limit: int | None = None
        self.unit = 0
        self.name = ""
        if 2 in top:
            limit = fields(_bytes(top[2]))
            self.limit = _int(limit.get(1))
            self.unit = _int(limit.get(2))
            self.name = _bytes(limit.get(3)).decode("utf-8", "replace")


class Response:
    """A parsed ``RateLimitResponse``; ``ValueError`` for bytes that are not one."""

    def __init__(self, message: bytes) -> None:
        self.code = OK
        self.statuses: list[Status] = []
        self.response_headers: list[tuple[str, str]] = []
        self.request_headers: list[tuple[str, str]] = []
        self.body = b""
        for number, value in records(message):
            if number == 1:
                self.code = _int(value)
            elif number == 2:
                self.statuses.append(Status(_bytes(value)))
            elif number in (3, 4):
                header = fields(_bytes(value))
                name = _bytes(header.get(1)).decode("latin-1").lower()
                text = _bytes(header.get(2)).decode("latin-1")
                if _valid_header(name, text):  # (a header the proxy would refuse is dropped)
                    (self.response_headers if number == 3 else self.request_headers).append(
                        (name, text))
            elif number == 5:
                self.body = _bytes(value)

    @property
    def over_limit(self) -> bool:
        # Envoy treats every code but OVER_LIMIT (UNKNOWN too) as OK.
        return self.code == OVER_LIMIT

    def x_ratelimit_headers(self) -> list[tuple[str, str]]:
        """Envoy's DRAFT_VERSION_03 headers from the statuses: the status with the least
        remaining decides; ``x-ratelimit-limit`` also lists every limit with its window."""
        decider: Status | None = None
        policies = ""
        for status in self.statuses:
            if status.limit is None:
                continue
            if decider is None or status.remaining < decider.remaining:
                decider = status
            window = UNIT_SECONDS.get(status.unit, 0)
            if window:
                policies += f", {status.limit};w={window}"
                if status.name:
                    policies += f';name="{status.name}"'
        if decider is None:
            return []
        return [("x-ratelimit-limit", f"{decider.limit}{policies}"),
                ("x-ratelimit-remaining", str(decider.remaining)),
                ("x-ratelimit-reset", str(decider.reset_seconds))]


_TOKEN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~")


def _valid_header(name: str, value: str) -> bool:
    """An HTTP header name (a token) and a value without CR, LF or NUL."""
    return bool(name) and all(char in _TOKEN for char in name) and not any(
        char in value for char in "\r\n\0")


def _int(value: bytes | int | None) -> int:
    if value is None:
        return 0
    if not isinstance(value, int):
        raise ValueError("a varint field holds bytes")
    return value


def _bytes(value: bytes | int | None) -> bytes:
    if value is None:
        return b""
    if isinstance(value, int):
        raise ValueError("a message field holds a varint")
    return value

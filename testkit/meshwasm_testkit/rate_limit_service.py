"""A small, protocol-faithful rate-limit service on loopback (grpcio): what Envoy's native
``envoy.filters.http.ratelimit`` and our rate_limit filter's global mode both ask in tests
and in ``bench/global_rate_limit.py``.

It serves ``envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`` with messages
encoded and decoded by hand on protobuf's wire format (the envoy protos are not on PyPI in a
form we install), and limits like envoyproxy/ratelimit: a rule names a descriptor's keys and,
optionally, values (``None``: any value, counted per value); every descriptor of a request
that matches a rule takes one hit from its counter, a counter over its limit within its
window makes that descriptor ``OVER_LIMIT``, and any such descriptor makes the whole answer
``OVER_LIMIT``.  A descriptor no rule matches is ``OK`` with no current limit.  Windows start
at ``reset()`` (not aligned to the wall clock as envoyproxy/ratelimit's are, so a test never
straddles a minute boundary).  ``fail_with`` answers an error status instead, ``delay_s``
answers late.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
from proxy_wasm.protowire import field, records

METHOD = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"
OK, OVER_LIMIT = 1, 2
UNIT_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
UNIT_NUMBERS = {"SECOND": 1, "MINUTE": 2, "HOUR": 3, "DAY": 4}

Descriptor = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Rule:
    """``requests_per_unit`` per ``unit`` for descriptors with these entries (value None:
    any value, one counter per value)."""

    entries: tuple[tuple[str, str | None], ...]
    requests_per_unit: int
    unit: str = "MINUTE"
    name: str = ""

    def matches(self, descriptor: Descriptor) -> bool:
        return len(descriptor) == len(self.entries) and all(
            key == want_key and (want_value is None or value == want_value)
            for (key, value), (want_key, want_value) in zip(descriptor, self.entries))


def parse_request(message: bytes) -> tuple[str, list[Descriptor]]:
    """(domain, descriptors) of a serialized ``RateLimitRequest``."""
    domain, descriptors = "", []
    for number, value in records(message):
        if number == 1 and isinstance(value, bytes):
            domain = value.decode()
        elif number == 2 and isinstance(value, bytes):
            entries = []
            for entry_number, entry in records(value):
                if entry_number == 1 and isinstance(entry, bytes):
                    parts = dict(records(entry))
                    entries.append((bytes(parts.get(1, b"")).decode(),
                                    bytes(parts.get(2, b"")).decode()))
            descriptors.append(tuple(entries))
    return domain, descriptors


class RateLimitService:
    """The service; ``calls`` lists the (domain, descriptors) it was asked."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.fail_with: grpc.StatusCode | None = None
        self.delay_s = 0.0
        self.calls: list[tuple[str, list[Descriptor]]] = []
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, Descriptor, int], int] = {}
        self._epoch = time.monotonic()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                                   handlers=[_Handler(self)])
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def reset(self) -> None:
        """Forget every count and start new windows; answer normally again."""
        with self._lock:
            self._counts.clear()
            self.calls.clear()
            self._epoch = time.monotonic()
            self.fail_with, self.delay_s = None, 0.0

    def should_rate_limit(self, message: bytes, context: grpc.ServicerContext) -> bytes:
        domain, descriptors = parse_request(message)
        with self._lock:
            self.calls.append((domain, descriptors))
            fail_with, delay = self.fail_with, self.delay_s
        if delay:
            time.sleep(delay)
        if fail_with is not None:
            context.abort(fail_with, "rate-limit backend unavailable")
        statuses = [self._hit(domain, descriptor) for descriptor in descriptors]
        overall = OVER_LIMIT if any(code == OVER_LIMIT for code, _ in statuses) else OK
        return field(1, overall) + b"".join(field(2, status) for _, status in statuses)

    def _hit(self, domain: str, descriptor: Descriptor) -> tuple[int, bytes]:
        rule = next((rule for rule in self.rules if rule.matches(descriptor)), None)
        if rule is None:
            return OK, field(1, OK)
        window = UNIT_SECONDS[rule.unit]
        now = time.monotonic()
        with self._lock:
            elapsed = now - self._epoch
            key = (domain, descriptor, int(elapsed // window))
            count = self._counts[key] = self._counts.get(key, 0) + 1
        code = OVER_LIMIT if count > rule.requests_per_unit else OK
        limit = field(1, rule.requests_per_unit) + field(2, UNIT_NUMBERS[rule.unit])
        if rule.name:
            limit += field(3, rule.name.encode())
        reset = int(window - elapsed % window)
        return code, (field(1, code) + field(2, limit)
                      + field(3, max(0, rule.requests_per_unit - count))
                      + field(4, field(1, reset)))


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, service: RateLimitService) -> None:
        self._service = service

    def service(self, handler_call_details: grpc.HandlerCallDetails
                ) -> grpc.RpcMethodHandler | None:
        if handler_call_details.method != METHOD:  # type: ignore[attr-defined]
            return None  # grpcio answers UNIMPLEMENTED
        return grpc.unary_unary_rpc_method_handler(self._service.should_rate_limit)


@contextmanager
def run_rate_limit_service(rules: list[Rule]) -> Iterator[RateLimitService]:
    """A started service, always stopped afterwards."""
    service = RateLimitService(rules)
    service._server.start()
    try:
        yield service
    finally:
        service._server.stop(grace=None).wait(5)

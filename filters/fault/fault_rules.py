"""The fault filter's decisions, without host calls: header matching, Envoy's integer parsing of
the ``x-envoy-fault-*`` headers, percentages, and the configuration (checked against
``schema.json``).  ``Settings`` is built in ``on_configure``; the rest is called per request."""

from __future__ import annotations

import json
import random

from proxy_wasm import config_schema, resources

TYPE_CHECKING = False  # not `from typing`: that would bundle typing into the module
if TYPE_CHECKING:
    from typing import Any

SCHEMA = json.loads(resources.read("schema.json"))
DENOMINATORS = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}
ABORT_HEADER = "x-envoy-fault-abort-request"
ABORT_GRPC_HEADER = "x-envoy-fault-abort-grpc-request"
ABORT_PERCENT_HEADER = "x-envoy-fault-abort-request-percentage"
DELAY_HEADER = "x-envoy-fault-delay-request"
DELAY_PERCENT_HEADER = "x-envoy-fault-delay-request-percentage"
_WHITESPACE = " \t\n\v\f\r"


def parse_unsigned(text: str | None, bits: int) -> int | None:
    """Envoy's ``absl::SimpleAtoi`` into an unsigned ``bits``-bit integer: surrounding ASCII
    whitespace and a leading ``+`` are allowed; anything else (or overflow) gives None."""
    if text is None:
        return None
    text = text.strip(_WHITESPACE)
    if text.startswith("+"):
        text = text[1:]
    if not text or not text.isascii() or not text.isdigit() or len(text) > 20:
        return None
    value = int(text)
    return value if value < (1 << bits) else None


def header_delay_ms(text: str | None) -> int | None:
    """The delay ``x-envoy-fault-delay-request`` asks for, as Envoy reads it: an unsigned 64-bit
    integer made a signed 64-bit count of milliseconds, so 2^63 and more wrap negative and,
    like 0 or an unparsable value, ask for no delay.  Anything below is held that long (in
    practice until the stream idle timeout ends the request)."""
    value = parse_unsigned(text, 64)
    return value if value is not None and 0 < value < (1 << 63) else None


def duration_ms(text: str) -> int:
    """A protobuf JSON duration (``"0.25s"``) in whole milliseconds."""
    whole, _, fraction = text[:-1].partition(".")
    return int(whole) * 1000 + int((fraction + "000")[:3])


class Percentage:
    """A ``FractionalPercent``: ``numerator`` out of ``denominator``."""

    __slots__ = ("numerator", "denominator")

    def __init__(self, spec: dict[str, Any] | None) -> None:
        spec = spec or {}
        self.numerator: int = spec.get("numerator", 0)
        self.denominator: int = DENOMINATORS[spec.get("denominator", "HUNDRED")]

    def capped(self, header_value: str | None) -> Percentage:
        """The header's numerator when it parses, never above the configured one (Envoy)."""
        numerator = parse_unsigned(header_value, 32)
        if numerator is None or numerator >= self.numerator:
            return self
        capped = Percentage(None)
        capped.numerator, capped.denominator = numerator, self.denominator
        return capped

    def draws(self) -> bool:
        """Whether ``hit`` takes a random number (neither never nor always)."""
        return 0 < self.numerator < self.denominator

    def hit(self, rng: random.Random) -> bool:
        if self.numerator <= 0:
            return False
        if self.numerator >= self.denominator:
            return True
        return rng.randrange(self.denominator) < self.numerator


class HeaderMatch:
    """One of Envoy's ``HeaderMatcher``s: ``string_match`` (exact/prefix/suffix/contains),
    ``present_match``, ``invert_match``."""

    __slots__ = ("name", "kind", "value", "invert")

    def __init__(self, spec: dict[str, Any]) -> None:
        self.name: str = spec["name"].lower()
        self.invert: bool = spec.get("invert_match", False)
        self.kind: str
        self.value: str | bool  # the string to match, or present_match's answer
        if "string_match" in spec:
            [(self.kind, self.value)] = spec["string_match"].items()
        else:
            self.kind, self.value = "present", spec.get("present_match", True)

    def matches(self, value: str | None) -> bool:
        if self.kind == "present":
            found = (value is not None) == self.value
        elif value is None:
            return False  # Envoy: an absent header never matches a value matcher
        elif self.kind == "exact":
            found = value == self.value
        else:
            wanted = str(self.value)  # a string for every kind but "present"
            if self.kind == "prefix":
                found = value.startswith(wanted)
            elif self.kind == "suffix":
                found = value.endswith(wanted)
            else:
                found = wanted in value
        return found != self.invert


class Settings:
    """The validated configuration."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.stat_prefix: str = document.get("stat_prefix", "")
        abort = document.get("abort")
        self.abort_percentage = Percentage(abort.get("percentage") if abort else None)
        self.abort_status: int | None = abort.get("http_status") if abort else None
        self.abort_grpc: int | None = abort.get("grpc_status") if abort else None
        self.abort_from_headers = abort is not None and "header_abort" in abort
        self.has_abort = abort is not None
        delay = document.get("delay")
        self.delay_percentage = Percentage(delay.get("percentage") if delay else None)
        self.delay_ms: int | None = duration_ms(delay["fixed_delay"]) \
            if delay and "fixed_delay" in delay else None
        self.delay_from_headers = delay is not None and "header_delay" in delay
        self.has_delay = delay is not None
        self.headers = [HeaderMatch(spec) for spec in document.get("headers", [])]
        self.upstream_cluster: str = document.get("upstream_cluster", "")
        self.max_active_faults: int | None = document.get("max_active_faults")
        seed = document.get("seed")
        self.rng = random.Random(seed) if seed is not None else random.Random()
        #: the x-envoy-fault-* headers this configuration reads, and every header a request's
        #: decision reads (those and the matchers'), fetched together with one host call
        self.fault_headers = tuple(
            ([ABORT_PERCENT_HEADER, ABORT_HEADER, ABORT_GRPC_HEADER] if self.abort_from_headers
             else []) + ([DELAY_PERCENT_HEADER, DELAY_HEADER] if self.delay_from_headers else []))
        self.header_names = tuple(dict.fromkeys(
            [*self.fault_headers, *(match.name for match in self.headers)]))
        #: True when a request without fault headers can get no fault and takes no random
        #: number (faults only on the client's demand, no shared counter, no cluster check)
        self.inert_without_headers = (
            self.max_active_faults is None and not self.upstream_cluster
            and (not self.has_abort or self.abort_from_headers
                 and not self.abort_percentage.draws())
            and (not self.has_delay or self.delay_from_headers
                 and not self.delay_percentage.draws()))


def load(configuration: bytes) -> Settings:
    """Parse, validate and build the settings; raises ``config_schema.ConfigError``."""
    return Settings(config_schema.load(configuration, SCHEMA))

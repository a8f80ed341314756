"""The data that flows through a replay: what is sent, what came back, what was expected.

Every engine (the wasmtime harness, real Envoy) turns an ``Exchange`` into a ``Verdict``;
``meshwasm.replay.expect`` compares a ``Verdict`` with the ``Expectation``.  Header names
are kept lower-case, as HTTP/2 and Envoy's header maps have them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class HttpRequest:
    """A request as the downstream client sends it."""

    method: str = "GET"
    path: str = "/"
    authority: str = "example.com"
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    #: sent after the body (HTTP/1: a chunked body, then the trailers)
    trailers: Headers = field(default_factory=list)


@dataclass(frozen=True)
class UpstreamResponse:
    """What the upstream stand-in answers when the filter lets a request through (or, under
    ``clusters``, what an ``http_call`` to that cluster gets)."""

    status: int = 200
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    #: http_call clusters only: the answer comes this much (virtual) time after the call;
    #: past the call's timeout_ms, Envoy answers 504 "upstream request timeout" instead
    delay_ms: int = 0
    #: http_call clusters only: the upstream resets the connection (after ``delay_ms``)
    reset: bool = False
    #: sent after the body (HTTP/1: a chunked body, then the trailers)
    trailers: Headers = field(default_factory=list)


@dataclass(frozen=True)
class GrpcAnswer:
    """What a scripted gRPC server answers one method (``grpc`` in a traffic file)."""

    messages: tuple[bytes, ...] = ()
    status: int = 0  # the gRPC status it ends with
    message: str = ""  # its grpc-message
    initial_metadata: Headers = field(default_factory=list)
    trailing_metadata: Headers = field(default_factory=list)
    #: the answer comes this much (virtual) time after the request ended
    delay_ms: int = 0
    reset: bool = False  # the server resets the stream instead (after delay_ms)


#: cluster -> "package.Service/Method" -> answer
GrpcScripts = dict[str, dict[str, GrpcAnswer]]


@dataclass(frozen=True)
class ValueCheck:
    """How an expected header value is checked: exactly, by prefix, by a regular expression
    (searched), or that the header is absent.  A plain ``str`` in ``Expectation`` is exact."""

    exact: str | None = None
    prefix: str | None = None
    regex: re.Pattern[str] | None = None
    absent: bool = False

    def accepts(self, values: list[str]) -> bool:
        """True when the header's values (empty: absent) pass this check."""
        if self.absent:
            return not values
        if self.prefix is not None:
            return any(value.startswith(self.prefix) for value in values)
        if self.regex is not None:
            return any(self.regex.search(value) for value in values)
        return self.exact in values

    def __str__(self) -> str:
        if self.absent:
            return "(absent)"
        if self.prefix is not None:
            return f"starting with {self.prefix!r}"
        if self.regex is not None:
            return f"matching /{self.regex.pattern}/"
        return str(self.exact)


HeaderChecks = dict[str, "str | ValueCheck"]


@dataclass(frozen=True)
class PluginLogCheck:
    """A log expectation on the lines of one plugin of a chain: a substring, a regular
    expression, or (neither) any line of that plugin."""

    plugin: str
    text: str | re.Pattern[str] | None = None

    def __str__(self) -> str:
        if self.text is None:
            return f"any line of plugin {self.plugin}"
        shown = self.text if isinstance(self.text, str) else f"/{self.text.pattern}/"
        return f"{shown} (plugin {self.plugin})"


#: a log expectation: a substring of some line, a regular expression searched in each, or
#: either restricted to one plugin of a chain
LogCheck = str | re.Pattern[str] | PluginLogCheck
_UNSET: Any = object()  # "no JSON expected" (None is a JSON value: null)


@dataclass(frozen=True)
class Expectation:
    """Checks on the response the client received.  ``None``/empty means "not checked"."""

    status: int | None = None
    headers: HeaderChecks = field(default_factory=dict)  # name -> value check
    headers_present: list[str] = field(default_factory=list)
    headers_absent: list[str] = field(default_factory=list)
    body: bytes | None = None
    body_contains: bytes | None = None
    body_json: Any = field(default=_UNSET)  # the body parsed as JSON equals this
    logs: list[LogCheck] = field(default_factory=list)  # each matches some log line
    upstream_headers: HeaderChecks = field(default_factory=dict)  # as the upstream saw them
    upstream_body: bytes | None = None
    upstream_body_contains: bytes | None = None
    upstream_body_json: Any = field(default=_UNSET)
    trailers: HeaderChecks = field(default_factory=dict)  # the response trailers
    upstream_trailers: HeaderChecks = field(default_factory=dict)  # as the upstream saw them
    upstream_reached: bool | None = None
    metrics: dict[str, int] = field(default_factory=dict)  # name -> value after the request
    #: bounds on the time from sending the request to the end of the response
    elapsed_ms: ElapsedBounds | None = None


@dataclass(frozen=True)
class ElapsedBounds:
    """``expect.elapsed_ms``: at least / at most this many milliseconds (None: unbounded).

    The harness measures virtual time (exact); Envoy wall-clock time, so there ``at_least``
    is checked with ``WALL_CLOCK_EARLY_MS`` of slack and ``at_most`` with
    ``WALL_CLOCK_LATE_MS`` (timers fire a little early or late, machines are loaded).
    """

    at_least: int | None = None
    at_most: int | None = None


WALL_CLOCK_EARLY_MS = 5
WALL_CLOCK_LATE_MS = 1000


@dataclass(frozen=True)
class Exchange:
    """One request of a traffic file, with where it was written (for error messages)."""

    name: str
    request: HttpRequest
    upstream: UpstreamResponse
    expect: Expectation
    line: int = 0
    at_ms: int = 0  # virtual time the request is sent at, from the start of the replay
    worker: int | None = None  # the worker VM that serves it (None: round-robin)
    #: http_call answers for this request only, by cluster (over ``Traffic.clusters``)
    clusters: dict[str, UpstreamResponse] = field(default_factory=dict)
    #: gRPC answers for this request only, by cluster and method (over ``Traffic.grpc``)
    grpc: GrpcScripts = field(default_factory=dict)


class FromTraffic(enum.Enum):
    """The type of ``FROM_TRAFFIC`` (an enum member: type checkers narrow ``is`` tests)."""

    FROM_TRAFFIC = "the traffic file's setting"


#: an engine's limit argument left to the traffic file's ``harness_limits`` (or the default)
FROM_TRAFFIC = FromTraffic.FROM_TRAFFIC


@dataclass(frozen=True)
class HarnessLimits:
    """The harness's own guards for a replay (``harness_limits:`` in a traffic file): the
    wall-clock seconds a callback may run, and the MiB one request may add to the process in
    source mode.  None: no limit."""

    callback_time_limit_s: float | None = 30.0
    memory_limit_mb: int | None = 1024


@dataclass(frozen=True)
class Traffic:
    """A parsed traffic file."""

    path: Path
    plugin_config: bytes
    exchanges: list[Exchange]
    workers: int = 1  # worker VMs (Envoy's --concurrency)
    #: cluster name -> what an http_call to it is answered (by default)
    clusters: dict[str, UpstreamResponse] = field(default_factory=dict)
    #: gRPC cluster -> method -> what the server answers (by default)
    grpc: GrpcScripts = field(default_factory=dict)
    #: the wall-clock time (ns since the epoch) the replay starts at; None: the harness's
    #: fixed epoch (2024-01-01T00:00:00Z)
    now_ns: int | None = None
    #: the harness engines' guards (``harness_limits:``; the defaults when the file has none)
    limits: HarnessLimits = field(default_factory=HarnessLimits)


@dataclass
class LogLine:
    level: str  # trace, debug, info, warn, error, critical
    message: str
    #: the plugin that wrote it (Envoy's plugin name); not compared: lines are the same
    #: whichever engine named their plugin
    plugin: str = field(default="", compare=False)


@dataclass
class Verdict:
    """What actually happened to one request."""

    status: int
    headers: Headers
    body: bytes
    logs: list[LogLine] = field(default_factory=list)
    upstream_request: HttpRequest | None = None  # None: the upstream was never reached
    # What the engine observed outside the filter's own log lines (a trap, a stalled stream);
    # shown in reports, never compared.
    notes: list[str] = field(default_factory=list)
    #: counter and gauge values of the whole proxy after the request (custom metrics only)
    metrics: dict[str, int] = field(default_factory=dict)
    #: milliseconds from sending the request to the end of its response (None: not measured)
    elapsed_ms: float | None = None
    #: True when ``elapsed_ms`` is wall-clock time (Envoy), False when virtual (harness)
    wall_clock: bool = False
    #: the response trailers the client received
    trailers: Headers = field(default_factory=list)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


def expects_json(value: Any) -> bool:
    """True when an ``Expectation``'s ``*_json`` field was given."""
    return value is not _UNSET

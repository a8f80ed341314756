"""Metrics the proxy exports (Envoy: on its admin ``/stats`` endpoint).

Define a metric once (e.g. in ``on_configure``) and keep the object.  Names are used as
given; Envoy shows them under the ``wasmcustom.`` prefix (see the harness docs).
"""

from __future__ import annotations

from . import _hostcalls

COUNTER, GAUGE, HISTOGRAM = 0, 1, 2


class _Metric:
    __slots__ = ("name", "id")
    KIND = COUNTER

    def __init__(self, name: str) -> None:
        self.name = name
        self.id: int = _hostcalls.abi.define_metric(self.KIND, name)

    @property
    def value(self) -> int:
        return _hostcalls.abi.get_metric(self.id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Counter(_Metric):
    """Only goes up."""

    __slots__ = ()
    KIND = COUNTER

    def increment(self, delta: int = 1) -> None:
        if delta < 0:
            raise ValueError("a counter cannot go down; use a Gauge")
        _hostcalls.abi.increment_metric(self.id, delta)


class Gauge(_Metric):
    """A value that is set, or moved up and down."""

    __slots__ = ()
    KIND = GAUGE

    def set(self, value: int) -> None:
        _hostcalls.abi.record_metric(self.id, value)

    def increment(self, delta: int = 1) -> None:
        _hostcalls.abi.increment_metric(self.id, delta)


class Histogram(_Metric):
    """A distribution of recorded values."""

    __slots__ = ()
    KIND = HISTOGRAM

    def record(self, value: int) -> None:
        _hostcalls.abi.record_metric(self.id, value)

"""Metrics the proxy exports (Envoy: on its admin ``/stats`` endpoint).

Define a metric once (e.g. in ``on_configure``) and keep the object.  Names are used as
given; Envoy shows them under the ``wasmcustom.`` prefix (see the harness docs).
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `from typing`: that would freeze typing into every module

from . import _hostcalls

COUNTER, GAUGE, HISTOGRAM = 0, 1, 2


class _PythonMetricBase:
    """The host-call methods in Python: used outside a compiled module.  Inside one,
    ``_proxy_wasm_abi.MetricBase`` has the same methods in C (no interpreter entry per
    increment on the request path)."""

    __slots__ = ("name", "id")
    KIND = COUNTER

    def __init__(self, name: str) -> None:
        self.name = name
        self.id: int = _hostcalls.abi.define_metric(self.KIND, name)

    def _increment(self, delta: int = 1) -> None:
        if delta < 0 and self.KIND == COUNTER:
            raise ValueError("a counter cannot go down; use a Gauge")
        _hostcalls.abi.increment_metric(self.id, delta)

    def _record(self, value: int) -> None:
        _hostcalls.abi.record_metric(self.id, value)


if TYPE_CHECKING:
    _MetricBase = _PythonMetricBase
else:
    try:
        from _proxy_wasm_abi import MetricBase as _MetricBase
    except ImportError:
        _MetricBase = _PythonMetricBase


class _Metric(_MetricBase):
    __slots__ = ()
    KIND = COUNTER

    @property
    def value(self) -> int:
        return _hostcalls.abi.get_metric(self.id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Counter(_Metric):
    """Only goes up: ``increment(delta=1)`` (a negative delta raises ValueError)."""

    __slots__ = ()
    KIND = COUNTER
    increment = _MetricBase._increment


class Gauge(_Metric):
    """A value that is ``set(value)``, or moved up and down with ``increment(delta=1)``."""

    __slots__ = ()
    KIND = GAUGE
    set = _MetricBase._record
    increment = _MetricBase._increment


class Histogram(_Metric):
    """A distribution of ``record(value)``-ed values."""

    __slots__ = ()
    KIND = HISTOGRAM
    record = _MetricBase._record

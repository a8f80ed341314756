"""This filter's configuration as Envoy's own ``envoy.filters.http.fault``: the peer the
differential tests and benchmarks compare ours with (the interface every shipped filter's
``native.py`` offers is described in ``meshwasm_testkit.native_peers``).

Our field names are Envoy's; our own additions (``seed``, ``tick_ms``) are dropped.
"""

from __future__ import annotations

import copy
from typing import Any

FAULT = "envoy.filters.http.fault"
_TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
_COPIED = ("abort", "delay", "headers", "upstream_cluster", "max_active_faults")


def to_native(config: dict[str, Any]) -> dict[str, Any]:
    """The ``HTTPFault`` typed config for our ``config``."""
    native: dict[str, Any] = {"@type": _TYPE}
    for field in _COPIED:
        if field in config:
            native[field] = copy.deepcopy(config[field])
    return native


def http_filters(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Envoy's HTTP filters doing what ours does with ``config``."""
    return [{"name": FAULT, "typed_config": to_native(config)}]


def route_action(config: dict[str, Any]) -> dict[str, Any]:
    """Nothing: Envoy's fault filter needs no route settings."""
    return {}

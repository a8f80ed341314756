"""Envoy's tap filter around a module, for ``meshwasm record``.

Two ``envoy.filters.http.tap`` filters with buffered JSON traces written one file per
stream: ``client`` before the module (the request as the client sent it, the response as
the client received it) and ``upstream`` after it, before the router (the request the
upstream got and what it answered).  Both trace every stream (``any_match``) with bodies up
to ``max_body_bytes`` (a longer body is marked truncated, which ``meshwasm import`` refuses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshwasm.deploy.envoy.config import EnvoyOptions, bootstrap

TAP_FILTER = "envoy.filters.http.tap"
CLIENT_PREFIX, UPSTREAM_PREFIX = "client", "upstream"


def tap_filter(path_prefix: Path, max_body_bytes: int) -> dict[str, Any]:
    """A tap filter writing each stream's buffered trace to ``<path_prefix>_<id>.json``."""
    return {
        "name": TAP_FILTER,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.tap.v3.Tap",
            "common_config": {"static_config": {
                "match": {"any_match": True},
                "output_config": {
                    "sinks": [{"format": "JSON_BODY_AS_STRING",
                               "file_per_tap": {"path_prefix": str(path_prefix)}}],
                    "max_buffered_rx_bytes": max_body_bytes,
                    "max_buffered_tx_bytes": max_body_bytes,
                },
            }},
        },
    }


def tapped_bootstrap(options: EnvoyOptions, directory: Path,
                     max_body_bytes: int = 1 << 20) -> dict[str, Any]:
    """``bootstrap(options)`` with a tap before the module and one before the router; the
    traces go to ``directory/client_*.json`` and ``directory/upstream_*.json``."""
    config = bootstrap(options)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"]
    filters = hcm["http_filters"]
    filters.insert(0, tap_filter(directory / CLIENT_PREFIX, max_body_bytes))
    filters.insert(len(filters) - 1, tap_filter(directory / UPSTREAM_PREFIX, max_body_bytes))
    return config

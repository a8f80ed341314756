"""Envoy bootstraps whose HTTP filter is one of Envoy's own (no wasm): the peers our filters
are compared with and measured against.

Each builder takes the ``EnvoyOptions`` of the listener/upstream (``module`` must be None) and
returns a full bootstrap dict for ``envoy_process.start_envoy(options, config=...)``:

- ``local_ratelimit(options, config)`` — ``envoy.filters.http.local_ratelimit`` from a
  configuration of ``filters/rate_limit`` (translated: see ``rate_limit_to_native``);
- ``ratelimit(options, config)`` — ``envoy.filters.http.ratelimit`` (the global rate limit,
  asking a rate-limit service over gRPC) from the ``global`` section of a ``filters/rate_limit``
  configuration, its ``rate_limits`` on the route (see ``global_rate_limit_to_native``);
- ``fault(options, config)`` — ``envoy.filters.http.fault`` from a ``filters/fault``
  configuration (the same field names; ours is a subset);
- ``lua(options, source)`` — ``envoy.filters.http.lua`` with inline Lua code.
"""

from __future__ import annotations

import copy
from typing import Any

from meshwasm.deploy.envoy_config import EnvoyOptions, bootstrap

_TYPES = "type.googleapis.com/envoy.extensions.filters.http."
#: What our ``limits[].key`` kinds become in Envoy's ``rate_limits`` actions: the action, and
#: the descriptor entry Envoy produces (value "" = one bucket per distinct value).
_HUGE_BUCKET = {"max_tokens": 4294967295, "tokens_per_fill": 4294967295, "fill_interval": "1s"}


def with_http_filter(options: EnvoyOptions, http_filter: dict[str, Any]) -> dict[str, Any]:
    """``envoy_config.bootstrap(options)`` with ``http_filter`` placed before the router."""
    if options.module is not None:
        raise ValueError("native filter bootstraps take EnvoyOptions without a module")
    config = bootstrap(options)
    _connection_manager(config)["http_filters"].insert(0, http_filter)
    return config


def _connection_manager(config: dict[str, Any]) -> dict[str, Any]:
    """The HTTP connection manager of a bootstrap ``envoy_config.bootstrap`` made."""
    listener = config["static_resources"]["listeners"][0]
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def _limit_to_native(limit: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One of our limits as (a ``rate_limits`` entry, a ``descriptors`` entry)."""
    name = limit["name"]
    [(kind, argument)] = limit["key"].items()
    if kind == "header":
        action = {"request_headers": {"header_name": argument, "descriptor_key": name}}
        entry = {"key": name, "value": ""}
    elif kind == "client_address":
        action = {"remote_address": {}}
        entry = {"key": "remote_address", "value": ""}
    elif kind == "route":  # one route in our test bootstraps: a fixed key stands for it
        action = {"generic_key": {"descriptor_key": name, "descriptor_value": "route"}}
        entry = {"key": name, "value": "route"}
    elif kind == "path_prefix":
        action = {"header_value_match": {
            "descriptor_key": name, "descriptor_value": "match",
            "headers": [{"name": ":path", "string_match": {"prefix": argument}}]}}
        entry = {"key": name, "value": "match"}
    else:
        raise ValueError(f"limits: unknown key kind {kind!r}")
    descriptor = {"entries": [entry], "token_bucket": copy.deepcopy(limit["token_bucket"])}
    return {"actions": [action]}, descriptor


def rate_limit_to_native(config: dict[str, Any]) -> dict[str, Any]:
    """The ``LocalRateLimit`` typed config equivalent to our rate_limit ``config``.

    Our optional default bucket becomes Envoy's ``token_bucket``; without one, Envoy gets a
    bucket too large to empty and does not consume it for matched requests.  ``shadow`` is
    ``filter_enforced`` 0%.  ``retry_after`` and ``max_keys`` have no native counterpart
    (Envoy's ``max_dynamic_descriptors`` is set to ``max_keys``).
    """
    limits = config.get("limits", [])
    pairs = [_limit_to_native(limit) for limit in limits]
    has_default = "token_bucket" in config
    native: dict[str, Any] = {
        "@type": _TYPES + "local_ratelimit.v3.LocalRateLimit",
        "stat_prefix": config.get("stat_prefix", "http_local_rate_limiter"),
        "token_bucket": copy.deepcopy(config["token_bucket"]) if has_default else _HUGE_BUCKET,
        "filter_enabled": {"default_value": {"numerator": 100, "denominator": "HUNDRED"},
                           "runtime_key": "meshwasm_rl_enabled"},
        "filter_enforced": {"default_value": {
            "numerator": 0 if config.get("shadow") else 100, "denominator": "HUNDRED"},
            "runtime_key": "meshwasm_rl_enforced"},
        "always_consume_default_token_bucket":
            config.get("always_consume_default_token_bucket", True) if has_default else False,
        "enable_x_ratelimit_headers": config.get("enable_x_ratelimit_headers", "OFF"),
        "max_dynamic_descriptors": config.get("max_keys", 1024),
    }
    if "status" in config:
        native["status"] = {"code": config["status"]}
    if pairs:
        native["rate_limits"] = [action for action, _ in pairs]
        native["descriptors"] = [descriptor for _, descriptor in pairs]
    headers = config.get("response_headers_to_add", {})
    if headers:
        native["response_headers_to_add"] = [
            {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
            for key, value in headers.items()]
    return native


def local_ratelimit(options: EnvoyOptions, config: dict[str, Any]) -> dict[str, Any]:
    """A bootstrap with Envoy's local_ratelimit configured as our rate_limit ``config``."""
    return with_http_filter(options, {"name": "envoy.filters.http.local_ratelimit",
                                      "typed_config": rate_limit_to_native(config)})


def _action_to_native(action: dict[str, Any]) -> dict[str, Any]:
    """One of our ``global.rate_limits`` actions as Envoy's (ours are Envoy's, but for
    ``header_value_match``'s matchers: ``{name, exact|prefix}`` -> ``string_match``)."""
    [(kind, spec)] = action.items()
    if kind != "header_value_match":
        return copy.deepcopy(action)
    native = {key: value for key, value in spec.items() if key != "headers"}
    native["headers"] = [{"name": matcher["name"], "string_match": {
        how: matcher[how] for how in ("exact", "prefix") if how in matcher}}
        for matcher in spec["headers"]]
    return {kind: native}


def global_rate_limit_to_native(config: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The ``RateLimit`` typed config equivalent to our rate_limit ``config``'s ``global``
    section, and the route's ``rate_limits``.  Our ``status`` is ``rate_limited_status``;
    ``enable_x_ratelimit_headers`` is shared with the local buckets in ours."""
    spec = config["global"]
    native: dict[str, Any] = {
        "@type": _TYPES + "ratelimit.v3.RateLimit",
        "domain": spec["domain"],
        "timeout": f"{spec.get('timeout_ms', 20) / 1000:g}s",
        "failure_mode_deny": spec.get("failure_mode_deny", False),
        "status_on_error": {"code": spec.get("status_on_error", 500)},
        "enable_x_ratelimit_headers": config.get("enable_x_ratelimit_headers", "OFF"),
        "disable_x_envoy_ratelimited_header": spec.get("disable_x_envoy_ratelimited_header",
                                                       False),
        "rate_limit_service": {"grpc_service": {"envoy_grpc": {"cluster_name": spec["cluster"]}},
                               "transport_api_version": "V3"},
    }
    if "status" in config:
        native["rate_limited_status"] = {"code": config["status"]}
    rate_limits = [{"actions": [_action_to_native(action) for action in entry["actions"]]}
                   for entry in spec["rate_limits"]]
    return native, rate_limits


def ratelimit(options: EnvoyOptions, config: dict[str, Any]) -> dict[str, Any]:
    """A bootstrap with Envoy's global rate-limit filter configured as our rate_limit
    ``config``'s ``global`` section (the service's cluster must be in
    ``options.grpc_clusters``)."""
    native, rate_limits = global_rate_limit_to_native(config)
    bootstrap_config = with_http_filter(options, {"name": "envoy.filters.http.ratelimit",
                                                  "typed_config": native})
    routes = _connection_manager(bootstrap_config)["route_config"]["virtual_hosts"][0]["routes"]
    for route in routes:
        route["route"]["rate_limits"] = rate_limits
    return bootstrap_config


def fault_to_native(config: dict[str, Any]) -> dict[str, Any]:
    """The ``HTTPFault`` typed config for our fault ``config`` (our field names are Envoy's;
    our own additions — ``seed``, ``tick_ms`` — are dropped)."""
    native: dict[str, Any] = {"@type": _TYPES + "fault.v3.HTTPFault"}
    for field in ("abort", "delay", "headers", "upstream_cluster", "max_active_faults"):
        if field in config:
            native[field] = copy.deepcopy(config[field])
    return native


def fault(options: EnvoyOptions, config: dict[str, Any]) -> dict[str, Any]:
    """A bootstrap with Envoy's fault filter configured as our fault ``config``."""
    return with_http_filter(options, {"name": "envoy.filters.http.fault",
                                      "typed_config": fault_to_native(config)})


def lua(options: EnvoyOptions, source: str) -> dict[str, Any]:
    """A bootstrap with an ``envoy.filters.http.lua`` filter running ``source`` inline."""
    return with_http_filter(options, {
        "name": "envoy.filters.http.lua",
        "typed_config": {"@type": _TYPES + "lua.v3.Lua",
                         "default_source_code": {"inline_string": source}}})

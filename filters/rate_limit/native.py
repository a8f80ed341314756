"""This filter's configuration as Envoy's own rate-limit filters: the peers the differential
tests and benchmarks compare ours with (the interface every shipped filter's ``native.py``
offers is described in ``meshwasm_testkit.native_peers``).

- Local buckets become ``envoy.filters.http.local_ratelimit``: each of our ``limits`` is a
  route ``rate_limits`` action plus a ``descriptors`` entry (header -> ``request_headers``,
  client address -> ``remote_address``, path prefix -> ``header_value_match``, route ->
  ``generic_key``).
- The ``global`` section becomes ``envoy.filters.http.ratelimit`` asking the same service,
  its ``rate_limits`` set on the route.  Local buckets together with ``global`` are refused
  (``ValueError``): with the service asked, our local buckets add no ``x-ratelimit-*``
  headers, which two chained native filters do not reproduce.
"""

from __future__ import annotations

import copy
from typing import Any

LOCAL_RATELIMIT = "envoy.filters.http.local_ratelimit"
RATELIMIT = "envoy.filters.http.ratelimit"
_TYPES = "type.googleapis.com/envoy.extensions.filters.http."
#: The default bucket Envoy gets when ours has none: too large to empty.
_HUGE_BUCKET = {"max_tokens": 4294967295, "tokens_per_fill": 4294967295, "fill_interval": "1s"}


def _limit_to_native(limit: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One of our limits as (a ``rate_limits`` entry, a ``descriptors`` entry)."""
    name = limit["name"]
    [(kind, argument)] = limit["key"].items()
    if kind == "header":
        action = {"request_headers": {"header_name": argument, "descriptor_key": name}}
        entry = {"key": name, "value": ""}  # value "": one bucket per distinct value
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


def local_to_native(config: dict[str, Any]) -> dict[str, Any]:
    """The ``LocalRateLimit`` typed config equivalent to our local buckets.

    Our optional default bucket becomes Envoy's ``token_bucket``; without one, Envoy gets a
    bucket too large to empty and does not consume it for matched requests.  ``shadow`` is
    ``filter_enforced`` 0%.  ``retry_after`` has no native counterpart; Envoy's
    ``max_dynamic_descriptors`` is set to our ``max_keys``.
    """
    pairs = [_limit_to_native(limit) for limit in config.get("limits", [])]
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


def global_to_native(config: dict[str, Any]) -> dict[str, Any]:
    """The ``RateLimit`` typed config equivalent to our ``global`` section.  Our ``status`` is
    ``rate_limited_status``; ``enable_x_ratelimit_headers`` is shared with the local buckets
    in ours."""
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
    return native


def http_filters(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Envoy's HTTP filters doing what ours does with ``config``: the global filter when
    ``config`` has a ``global`` section, else the local one."""
    if "global" not in config:
        return [{"name": LOCAL_RATELIMIT, "typed_config": local_to_native(config)}]
    if config.get("limits") or "token_bucket" in config:
        raise ValueError("local buckets together with `global` have no native translation")
    return [{"name": RATELIMIT, "typed_config": global_to_native(config)}]


def route_action(config: dict[str, Any]) -> dict[str, Any]:
    """The route's ``rate_limits`` the global filter asks the service with (nothing for local
    buckets: their actions are in the filter's own config)."""
    if "global" not in config:
        return {}
    return {"rate_limits": [
        {"actions": [_action_to_native(action) for action in entry["actions"]]}
        for entry in config["global"]["rate_limits"]]}

"""This filter's configuration as Envoy's own ``envoy.filters.http.jwt_authn``, so the same
scenarios can be replayed against Envoy's filter on the same Envoy build (the interface every
shipped filter's ``native.py`` offers is described in ``meshwasm_testkit.native_peers``).

``to_native(config)`` raises ``ValueError`` for what Envoy's filter cannot express (rule
``claims``, ``max_token_bytes``); ``token_cache_size``, which changes no verdict, is dropped.
"""

from __future__ import annotations

import json
from typing import Any

JWT_AUTHN = "envoy.filters.http.jwt_authn"
_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
_COPIED = ("issuer", "audiences", "from_headers", "from_params", "from_cookies", "forward",
           "forward_payload_header", "claim_to_headers", "payload_in_metadata",
           "clock_skew_seconds")


def _provider(spec: dict[str, Any]) -> dict[str, Any]:
    native = {name: spec[name] for name in _COPIED if name in spec}
    if "local_jwks" in spec:
        local = spec["local_jwks"]
        text = local.get("inline_string") or json.dumps(local["inline"])
        native["local_jwks"] = {"inline_string": text}
    else:
        remote = spec["remote_jwks"]
        uri = remote["http_uri"]
        native["remote_jwks"] = {
            "http_uri": {"uri": uri["uri"], "cluster": uri["cluster"],
                         "timeout": f"{uri.get('timeout_ms', 1000) / 1000:g}s"},
            "cache_duration": f"{remote.get('cache_duration_seconds', 600)}s",
        }
    return native


def _requires(rule: dict[str, Any], default_provider: str | None) -> dict[str, Any] | None:
    if rule.get("claims"):
        raise ValueError("rules[].claims has no equivalent in Envoy's jwt_authn")
    requirement = rule.get("requirement", "required")
    if requirement == "skip":
        return None
    name = rule.get("provider", default_provider)
    check: dict[str, Any]
    if "audiences" in rule:
        check = {"provider_and_audiences": {"provider_name": name,
                                            "audiences": rule["audiences"]}}
    else:
        check = {"provider_name": name}
    if requirement == "optional":
        return {"requires_any": {"requirements": [check, {"allow_missing": {}}]}}
    return check


def to_native(config: dict[str, Any]) -> dict[str, Any]:
    """The ``JwtAuthentication`` message (as JSON) for our ``config``."""
    for name, spec in config["providers"].items():
        if "max_token_bytes" in spec:
            raise ValueError(f"providers.{name}.max_token_bytes has no equivalent in Envoy")
    providers = {name: _provider(spec) for name, spec in config["providers"].items()}
    default = next(iter(providers)) if len(providers) == 1 else None
    rules = []
    for rule in config.get("rules", []):
        native_rule: dict[str, Any] = {"match": {"prefix": rule["prefix"]}}
        requires = _requires(rule, default)
        if requires is not None:
            native_rule["requires"] = requires
        rules.append(native_rule)
    native = {"@type": _TYPE, "providers": providers, "rules": rules}
    if "bypass_cors_preflight" in config:
        native["bypass_cors_preflight"] = config["bypass_cors_preflight"]
    return native


def http_filters(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Envoy's HTTP filters doing what ours does with ``config``."""
    return [{"name": JWT_AUTHN, "typed_config": to_native(config)}]


def route_action(config: dict[str, Any]) -> dict[str, Any]:
    """Nothing: Envoy's jwt_authn needs no route settings."""
    return {}

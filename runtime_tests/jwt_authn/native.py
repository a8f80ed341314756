"""Our jwt_authn configuration translated to Envoy's ``envoy.filters.http.jwt_authn``, so the
same scenarios can be replayed against Envoy's own filter on the same Envoy build.

``to_native(config)`` raises ``ValueError`` for what Envoy's filter cannot express (rule
``claims``, ``max_token_bytes``, ``token_cache_size``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from meshwasm.deploy.envoy_config import EnvoyOptions
from meshwasm_testkit.native_peers import with_http_filter

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


def bootstrap_for(config: dict[str, Any]) -> Callable[[EnvoyOptions], dict[str, Any]]:
    """A ``replay_in_envoy(bootstrap_for=...)`` builder running Envoy's jwt_authn."""
    native = to_native(config)
    return lambda options: with_http_filter(options, {"name": JWT_AUTHN, "typed_config": native})

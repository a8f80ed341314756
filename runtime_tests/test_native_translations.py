"""Each shipped filter's ``native.py`` (its configuration as Envoy's own filters) through the
one interface ``meshwasm_testkit.native_peers`` uses: where the native filters land in the
bootstrap, what reaches the routes, and what is refused.  That Envoy answers as ours does is
the differential suites' job (runtime_tests/<filter>/, in real Envoy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshwasm.deploy.envoy.config import EnvoyOptions
from meshwasm_testkit.native_peers import (FILTERS, native_bootstrap, native_bootstrap_for,
                                           native_translation)

SHIPPED = sorted(path.name for path in FILTERS.iterdir() if (path / "filter.py").is_file())
OPTIONS = EnvoyOptions(upstream_port=9)
BUCKET = {"max_tokens": 2, "tokens_per_fill": 2, "fill_interval": "60s"}
GLOBAL = {"domain": "api", "cluster": "ratelimit", "rate_limits": [{"actions": [
    {"header_value_match": {"descriptor_value": "login",
                            "headers": [{"name": ":path", "prefix": "/login"}]}}]}]}


def _chain(bootstrap: dict[str, Any]) -> list[str]:
    return [entry["name"] for entry in _connection_manager(bootstrap)["http_filters"]]


def _routes(bootstrap: dict[str, Any]) -> list[dict[str, Any]]:
    return _connection_manager(bootstrap)["route_config"]["virtual_hosts"][0]["routes"]


def _connection_manager(bootstrap: dict[str, Any]) -> dict[str, Any]:
    return bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"]


def test_every_shipped_filter_has_a_native_translation() -> None:
    assert SHIPPED == ["fault", "jwt_authn", "rate_limit"]
    for name in SHIPPED:
        translation = native_translation(name)
        assert callable(translation.http_filters) and callable(translation.route_action), name


def test_fault_becomes_envoys_fault_filter_before_the_router() -> None:
    config = {"abort": {"http_status": 503, "percentage": {"numerator": 50}}, "seed": 7,
              "tick_ms": 10}
    bootstrap = native_bootstrap(OPTIONS, "fault", config)
    assert _chain(bootstrap) == ["envoy.filters.http.fault", "envoy.filters.http.router"]
    typed = _connection_manager(bootstrap)["http_filters"][0]["typed_config"]
    # our own additions (seed, tick_ms) have no place in Envoy's message
    assert typed == {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3."
                              "HTTPFault", "abort": config["abort"]}
    assert "rate_limits" not in _routes(bootstrap)[0]["route"]


def test_jwt_authn_refuses_what_envoys_filter_cannot_express() -> None:
    config = {"providers": {"p": {"issuer": "i", "local_jwks": {"inline_string": "{}"}}},
              "rules": [{"prefix": "/", "claims": {"sub": "x"}}]}
    with pytest.raises(ValueError, match="claims"):
        native_bootstrap_for("jwt_authn", config)
    del config["rules"][0]["claims"]
    bootstrap = native_bootstrap_for("jwt_authn", config)(OPTIONS)
    assert _chain(bootstrap) == ["envoy.filters.http.jwt_authn", "envoy.filters.http.router"]
    typed = _connection_manager(bootstrap)["http_filters"][0]["typed_config"]
    assert typed["rules"] == [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]


def test_rate_limit_local_buckets_become_local_ratelimit() -> None:
    config = {"limits": [{"name": "user", "key": {"header": "x-user"}, "token_bucket": BUCKET}]}
    bootstrap = native_bootstrap(OPTIONS, "rate_limit", config)
    assert _chain(bootstrap) == ["envoy.filters.http.local_ratelimit",
                                 "envoy.filters.http.router"]
    typed = _connection_manager(bootstrap)["http_filters"][0]["typed_config"]
    assert typed["rate_limits"] == [{"actions": [
        {"request_headers": {"header_name": "x-user", "descriptor_key": "user"}}]}]
    assert typed["descriptors"] == [{"entries": [{"key": "user", "value": ""}],
                                     "token_bucket": BUCKET}]
    assert "rate_limits" not in _routes(bootstrap)[0]["route"]


def test_rate_limit_global_mode_puts_its_actions_on_every_route() -> None:
    bootstrap = native_bootstrap(OPTIONS, "rate_limit", {"global": GLOBAL})
    assert _chain(bootstrap) == ["envoy.filters.http.ratelimit", "envoy.filters.http.router"]
    routes = _routes(bootstrap)
    assert routes and all(route["route"]["rate_limits"] == [{"actions": [
        {"header_value_match": {"descriptor_value": "login", "headers": [
            {"name": ":path", "string_match": {"prefix": "/login"}}]}}]}] for route in routes)


def test_rate_limit_local_and_global_together_are_refused() -> None:
    config = {"global": GLOBAL, "token_bucket": BUCKET}
    with pytest.raises(ValueError, match="local buckets together with `global`"):
        native_bootstrap(OPTIONS, "rate_limit", config)


def test_a_filter_without_translation_is_named() -> None:
    with pytest.raises(ValueError, match="'hello' has no native translation"):
        native_translation("hello")


def test_native_bootstraps_take_no_module(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="without a module"):
        native_bootstrap(EnvoyOptions(upstream_port=9, module=tmp_path / "x.wasm"), "fault", {})

"""``payload_in_metadata``: the verified claims, as the harness records them (the property the
filter set) and as Envoy exposes them to its access-log/header formatters.

Envoy's native jwt_authn writes the claims as a Struct to dynamic metadata
(``envoy.filters.http.jwt_authn``, key NAME); a proxy-wasm module cannot write dynamic
metadata, so ours writes them as JSON to filter state (``proxy_set_property(NAME)``, which
Envoy keeps as ``wasm.NAME``).  A route ``response_headers_to_add`` makes each observable:
``%FILTER_STATE(wasm.NAME:PLAIN)%`` for ours, ``%DYNAMIC_METADATA(...:NAME)%`` for native,
and both must print the same JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meshwasm.deploy.envoy.config import EnvoyOptions, bootstrap
from meshwasm.deploy.envoy.replay import replay_in_envoy
from meshwasm.harness.replay import CompiledPlugin
from meshwasm.replay.model import Exchange, Expectation, HttpRequest, Traffic, UpstreamResponse
from meshwasm_testkit.native_peers import native_bootstrap, native_translation

from .scenarios import HARNESS_NOW, HERE, render
from .tokens import KeySet, make_token

NAME = "jwt_payload"
SHOWN = "x-claims"


#: claims in no particular order, nested, with floats, null, booleans and non-ASCII text
MIXED = {"sub": "zo\u00eb", "iss": "https://issuer.example", "exp": "+3600", "aud": "api",
         "nested": {"b": 1, "a": [True, None, 2.5, "\u00e9"]}, "iat": "-10", "ratio": 0.25}


def _mixed(keys: KeySet, now: int | None = None) -> str:
    return make_token(keys, {"alg": "ES256", "kid": "ec1", "claims": MIXED}, now)


def _exchange(path: str, headers: list[tuple[str, str]]) -> Exchange:
    return Exchange("metadata", HttpRequest(path=path, headers=headers), UpstreamResponse(),
                    Expectation())


def _with_claims_header(config: dict[str, Any], formatter: str) -> dict[str, Any]:
    """``config`` whose route adds response header ``x-claims: <formatter>``."""
    route = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"]["route_config"]["virtual_hosts"][0]["routes"][0]
    route["response_headers_to_add"] = [{"header": {"key": SHOWN, "value": formatter},
                                         "keep_empty_value": False}]
    return config


def test_the_claims_are_set_as_a_property_in_the_harness(jwt_wasm: Path, test_keys: KeySet,
                                                         tmp_path: Path) -> None:
    traffic, tokens = render(test_keys, HERE / "scenarios.yaml", tmp_path, HARNESS_NOW)
    plugin = CompiledPlugin(jwt_wasm, traffic.plugin_config)
    states: list[dict[bytes, bytes]] = []
    drop = plugin.host.drop

    def keep_state(context: Any) -> None:  # the stream's filter state, as it ended
        states.append(dict(context.filter_state))
        drop(context)

    plugin.host.drop = keep_state  # type: ignore[method-assign]
    verdict = plugin.run(_exchange("/orders", [("authorization", f"Bearer {tokens['rs512']}")]))
    assert verdict.status == 200
    claims = json.loads(states[-1][NAME.encode()])
    assert claims["sub"] == "carol" and claims["aud"] == ["other", "api"]
    assert claims["iss"] == "https://issuer.example" and isinstance(claims["exp"], int)
    plugin.run(_exchange("/orders", [("authorization", f"Bearer {_mixed(test_keys, HARNESS_NOW)}")]))
    claims = json.loads(states[-1][NAME.encode()])
    assert claims["nested"] == MIXED["nested"] and claims["sub"] == MIXED["sub"]
    assert list(claims) == sorted(claims)  # keys sorted, as Envoy prints a Struct
    refused = plugin.run(_exchange("/orders", [("authorization", f"Bearer {tokens['expired']}")]))
    assert refused.status == 401 and states[-1] == {}


@pytest.mark.envoy
def test_envoy_shows_the_same_claims_json_from_ours_and_from_native(
        jwt_wasm: Path, test_keys: KeySet, tmp_path: Path) -> None:
    traffic, tokens = render(test_keys, HERE / "scenarios.yaml", tmp_path)
    exchanges = Traffic(traffic.path, traffic.plugin_config, [
        _exchange("/orders", [("authorization", f"Bearer {tokens[name]}")])
        for name in ("rs256", "rs512", "es256", "no_exp")] + [
        _exchange("/orders", [("authorization", f"Bearer {_mixed(test_keys)}")]),
        _exchange("/public/x", [])])
    settings = json.loads(traffic.plugin_config)

    def ours_bootstrap(options: EnvoyOptions) -> dict[str, Any]:
        return _with_claims_header(bootstrap(options), f"%FILTER_STATE(wasm.{NAME}:PLAIN)%")

    def native_jwt_bootstrap(options: EnvoyOptions) -> dict[str, Any]:
        jwt_authn = native_translation("jwt_authn").JWT_AUTHN
        return _with_claims_header(native_bootstrap(options, "jwt_authn", settings),
                                   f"%DYNAMIC_METADATA({jwt_authn}:{NAME})%")

    ours = replay_in_envoy(jwt_wasm, exchanges, bootstrap_for=ours_bootstrap)
    native = replay_in_envoy(None, exchanges, bootstrap_for=native_jwt_bootstrap)
    mine = [v.header(SHOWN) for v in ours]
    theirs = [v.header(SHOWN) for v in native]
    assert [v.status for v in ours] == [200] * 6 and mine[-1] is None
    assert mine == theirs

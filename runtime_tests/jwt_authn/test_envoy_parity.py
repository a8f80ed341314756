"""The jwt_authn scenarios through our module in a real Envoy and through Envoy's native
jwt_authn, configured the same, on the same Envoy build: identical answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshwasm.deploy.envoy.replay import replay_in_envoy
from meshwasm.replay.expect import evaluate
from meshwasm.replay.model import Verdict
from meshwasm_testkit.native_peers import native_bootstrap_for

from .scenarios import HERE, render
from .tokens import KeySet

#: Response headers both filters set and the README documents.
COMPARED_RESPONSE = ("www-authenticate", "content-type")
#: Request headers the upstream sees that depend on the filter.
COMPARED_UPSTREAM = ("x-jwt-sub", "x-jwt-payload", "authorization", "x-token", "cookie")


def _upstream(verdict: Verdict) -> dict[str, str | None] | None:
    request = verdict.upstream_request
    if request is None:
        return None
    seen = request.headers
    return {name: [value for key, value in seen if key == name] for name in COMPARED_UPSTREAM} | {
        "path": request.path}


def _answers(verdicts: list[Verdict]) -> list[tuple]:
    return [(v.status, v.body, tuple(v.header(name) for name in COMPARED_RESPONSE), _upstream(v))
            for v in verdicts]


@pytest.mark.envoy
@pytest.mark.parametrize("scenario", ["scenarios.yaml", "remote_jwks.yaml"])
def test_our_module_and_native_jwt_authn_answer_alike(jwt_wasm: Path, test_keys: KeySet,
                                                      tmp_path: Path, scenario: str) -> None:
    traffic, _ = render(test_keys, HERE / scenario, tmp_path)
    ours = replay_in_envoy(jwt_wasm, traffic)
    assert {o.exchange.name: o.mismatches for o in evaluate(traffic, ours) if o.mismatches} == {}
    native = replay_in_envoy(None, traffic,
                             bootstrap_for=native_bootstrap_for("jwt_authn", json.loads(traffic.plugin_config)))
    names = [exchange.name for exchange in traffic.exchanges]
    differing = {name: (mine, theirs)
                 for name, mine, theirs in zip(names, _answers(ours), _answers(native))
                 if mine != theirs}
    assert differing == {}, "\n".join(f"{name}:\n  ours   {mine}\n  native {theirs}"
                                       for name, (mine, theirs) in differing.items())

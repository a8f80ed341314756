"""The differential suite: every token and key set of ``differential.py`` through our module
and Envoy's native jwt_authn in ONE Envoy (``side_by_side``): the same status, body,
challenge, forwarded headers and path.  Configurations Envoy refuses are refused by ours."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshwasm.deploy.envoy.config import EnvoyOptions
from meshwasm.deploy.envoy.process import EnvoyError, start_envoy
from meshwasm.harness.errors import HarnessError
from meshwasm.harness.replay import CompiledPlugin

from meshwasm_testkit.native_peers import native_bootstrap

from .differential import REFUSED_KEY_SETS, corpus, provider
from .side_by_side import answer_side_by_side
from .tokens import KeySet


@pytest.mark.envoy
def test_every_token_of_the_corpus_gets_the_native_filters_answer(
        jwt_wasm: Path, test_keys: KeySet, tmp_path: Path) -> None:
    groups = corpus(test_keys)
    answers = answer_side_by_side(jwt_wasm, groups, workdir=tmp_path / "envoy")
    assert len(answers) == sum(len(group.requests) for group in groups)
    differing = {name: pair for name, pair in answers.items() if pair[0] != pair[1]}
    assert differing == {}, "\n".join(f"{name}:\n  ours   {ours}\n  native {native}"
                                       for name, (ours, native) in differing.items())
    # the corpus is not trivially alike: it holds passes, 401s, 403s and 503s
    statuses = {ours.status for ours, _ in answers.values()}
    assert statuses == {200, 401, 403, 503}


@pytest.mark.envoy
@pytest.mark.parametrize("name", sorted(REFUSED_KEY_SETS))
def test_key_sets_envoy_refuses_are_refused_by_ours(jwt_wasm: Path, test_keys: KeySet,
                                                     name: str) -> None:
    config = {"providers": {"p": provider(REFUSED_KEY_SETS[name](test_keys))},
              "rules": [{"prefix": "/"}]}
    with pytest.raises(HarnessError, match=r"providers\.p\.local_jwks\.inline_string"):
        CompiledPlugin(jwt_wasm, json.dumps(config).encode())
    options = EnvoyOptions(upstream_port=9)  # never reached: Envoy must refuse to start
    native = native_bootstrap(options, "jwt_authn", config)
    with pytest.raises(EnvoyError, match="invalid local jwks"):
        with start_envoy(options, config=native):
            pass

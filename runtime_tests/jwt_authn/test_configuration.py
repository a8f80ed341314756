"""Configurations the compiled jwt_authn refuses, each with a message naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshwasm.harness.errors import HarnessError
from meshwasm.harness.replay import CompiledPlugin

from .tokens import KeySet

@pytest.mark.parametrize(("config", "expected"), [
    ({}, "providers: required"),
    ({"providers": {"p": {"issuer": "i"}}}, "providers.p: must match exactly one"),
    ({"providers": {"p": {"local_jwks": {"inline_string": "{"}}}},
     "providers.p.local_jwks.inline_string: not valid JSON"),
    ({"providers": {"p": {"local_jwks": {"inline": {"keys": [{"kty": "EC", "crv": "P-256",
                                                              "x": "AA", "y": "AA"}]}}}}},
     "providers.p.local_jwks.inline.keys[0]: EC key is not a point on P-256"),
    ({"providers": {"p": {"remote_jwks": {"http_uri": {"uri": "ftp://x"}}}}},
     "providers.p.remote_jwks.http_uri.cluster: required"),
    ({"providers": "KEYS", "rules": [{"prefix": "/", "provider": "q"}]},
     "rules[0].provider: no provider named 'q'"),
    ({"providers": "KEYS", "rules": [{"prefix": "api"}]}, "rules[0].prefix"),
    ({"providers": "KEYS", "rules": [{"prefix": "/", "requirement": "maybe"}]},
     "rules[0].requirement"),
])
def test_bad_configurations_are_rejected_naming_the_field(
        jwt_wasm: Path, test_keys: KeySet, config: dict, expected: str) -> None:
    # "KEYS": one good provider named p
    text = json.dumps(config).replace('"KEYS"', json.dumps(
        {"p": {"local_jwks": {"inline": test_keys.jwks()}}}))
    with pytest.raises(HarnessError) as caught:
        CompiledPlugin(jwt_wasm, text.encode())
    assert expected in str(caught.value)


def test_unusable_keys_are_skipped_with_a_log_line_naming_them(jwt_wasm: Path,
                                                              test_keys: KeySet) -> None:
    keys = [{"kty": "OKP", "crv": "X25519", "x": "AA"}, *test_keys.jwks()["keys"]]
    config = {"providers": {"p": {"local_jwks": {"inline": {"keys": keys}}}}}
    plugin = CompiledPlugin(jwt_wasm, json.dumps(config).encode())
    warnings = [line.message for line in plugin.startup_logs if "key skipped" in line.message]
    assert warnings == ["jwt_authn: key skipped: providers.p.local_jwks.inline.keys[0].crv: "
                        "only Ed25519 is supported for OKP, got 'X25519'"]

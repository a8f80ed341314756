"""The differential corpus: tokens, key sets and settings of every class where our filter and
Envoy's native jwt_authn once answered differently (issues 12 and 13), grouped by
configuration so ``side_by_side`` answers all of them in one Envoy.

Add a case here for every difference found later.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from meshwasm.replay.model import HttpRequest

from .side_by_side import Group
from .tokens import KeySet, make_token, self_signed_pem

ISSUER = "https://issuer.example"
GOOD = {"iss": ISSUER, "aud": "api", "sub": "alice", "exp": "+3600"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _bearer(token: str, path: str = "/orders") -> HttpRequest:
    return HttpRequest(path=path, headers=[("authorization", f"Bearer {token}")])


def provider(jwks: dict[str, Any] | str, **extra: Any) -> dict[str, Any]:
    text = jwks if isinstance(jwks, str) else json.dumps(jwks)
    return {"issuer": ISSUER, "audiences": ["api"], "local_jwks": {"inline_string": text},
            "claim_to_headers": [{"header_name": "x-jwt-sub", "claim_name": "sub"}], **extra}


def _all_keys(keys: KeySet) -> dict[str, Any]:
    return {"keys": keys.jwks()["keys"] + keys.more_jwks()["keys"]}


def _tokens(keys: KeySet, specs: dict[str, dict[str, Any]], path: str = "/orders"
            ) -> tuple[tuple[str, HttpRequest], ...]:
    return tuple((name, _bearer(make_token(keys, spec), path)) for name, spec in specs.items())


def algorithms(keys: KeySet) -> Group:
    specs: dict[str, dict[str, Any]] = {}
    for alg, kid in (("ES256", "ec1"), ("ES384", "ec384"), ("ES512", "ec521"), ("EdDSA", "ed1")):
        specs[f"{alg} good"] = {"alg": alg, "kid": kid, "claims": GOOD}
        specs[f"{alg} without kid"] = {"alg": alg, "claims": GOOD}
        specs[f"{alg} wrong key"] = {"alg": alg, "kid": kid, "claims": GOOD, "wrong_key": True}
    specs |= {
        "EdDSA signature 63 bytes": {"alg": "EdDSA", "kid": "ed1", "claims": GOOD,
                                     "signature_bytes": 63},
        "EdDSA signature 65 bytes": {"alg": "EdDSA", "kid": "ed1", "claims": GOOD,
                                     "signature_bytes": 65},
        "EdDSA empty signature": {"alg": "EdDSA", "kid": "ed1", "claims": GOOD,
                                  "signature_bytes": 0},
        "ES384 signature 95 bytes": {"alg": "ES384", "kid": "ec384", "claims": GOOD,
                                     "signature_bytes": 95},
        "ES512 signature 128 bytes": {"alg": "ES512", "kid": "ec521", "claims": GOOD,
                                      "signature_bytes": 128},
        "ES384 names the P-256 key": {"alg": "ES384", "kid": "ec1", "claims": GOOD},
        "ES256 names the P-384 key": {"alg": "ES256", "kid": "ec384", "claims": GOOD,
                                      "sign_as": "ES256"},
        "EdDSA names the RSA key": {"alg": "EdDSA", "kid": "rsa1", "claims": GOOD},
        "RS256 names the Ed25519 key": {"alg": "RS256", "kid": "ed1", "claims": GOOD},
        "ES256K is not supported": {"alg": "ES256K", "kid": "ec1", "claims": GOOD,
                                    "sign_as": "ES256"},
        "Ed25519 as alg is not supported": {"alg": "Ed25519", "kid": "ed1", "claims": GOOD,
                                            "sign_as": "EdDSA"},
    }
    config = {"providers": {"p": provider(_all_keys(keys))}, "rules": [{"prefix": "/"}]}
    return Group("algorithms", config, _tokens(keys, specs))


def numeric_claims(keys: KeySet) -> Group:
    def payload(fields: str) -> dict[str, Any]:
        return {"alg": "HS256", "kid": "hs1",
                "payload_json": f'{{"iss":"{ISSUER}","aud":"api","sub":"alice",{fields}}}'}

    specs = {
        "exp negative": payload('"exp":-5'),
        "exp 2^64": payload('"exp":18446744073709551616'),
        "exp 2^63": payload('"exp":9223372036854775808'),
        "exp 2^63-1": payload('"exp":9223372036854775807'),
        "exp 1e300": payload('"exp":1e300'),
        "exp 1e10": payload('"exp":1e10'),
        "exp fractional in the future": payload('"exp":NOW.5,"nbf":1'),
        "exp fractional in the past": payload('"exp":1000.9'),
        "exp 0": payload('"exp":0'),
        "exp -0.5": payload('"exp":-0.5'),
        "exp string": payload('"exp":"12"'),
        "exp true": payload('"exp":true'),
        "exp null": payload('"exp":null'),
        "nbf negative": payload('"nbf":-1'),
        "nbf 1e300": payload('"nbf":1e300'),
        "nbf fractional": payload('"nbf":1.5'),
        "iat negative": payload('"iat":-1'),
        "iat 1e300": payload('"iat":1e300'),
        "iat fractional": payload('"iat":1.5'),
        "iat string": payload('"iat":"x"'),
    }
    config = {"providers": {"p": provider(keys.jwks())}, "rules": [{"prefix": "/"}]}
    return Group("numeric claims", config, _tokens(keys, specs))


def json_shapes(keys: KeySet) -> Group:
    claims = json.dumps({**GOOD, "exp": 4000000000})
    specs = {
        "header alg twice, none then RS256": {
            "alg": "RS256", "kid": "rsa1", "claims": GOOD,
            "header_json": '{"alg":"none","alg":"RS256","kid":"rsa1"}'},
        "header alg twice, RS256 then none": {
            "alg": "RS256", "kid": "rsa1", "claims": GOOD,
            "header_json": '{"alg":"RS256","kid":"rsa1","alg":"none"}'},
        "header kid twice": {"alg": "RS256", "kid": "rsa1", "claims": GOOD,
                             "header_json": '{"alg":"RS256","kid":"nope","kid":"rsa1"}'},
        "payload exp twice, past then future": {
            "alg": "RS256", "kid": "rsa1",
            "payload_json": claims[:-1] + ',"exp":1000}'.replace("1000", "1000")},
        "payload exp twice, future last": {
            "alg": "RS256", "kid": "rsa1",
            "payload_json": '{"exp":1000,' + claims[1:]},
        "payload aud twice": {
            "alg": "RS256", "kid": "rsa1",
            "payload_json": claims[:-1] + ',"aud":"elsewhere"}'},
        "payload iss twice": {
            "alg": "RS256", "kid": "rsa1",
            "payload_json": claims[:-1] + ',"iss":"https://evil.example"}'},
        "payload sub twice": {
            "alg": "RS256", "kid": "rsa1",
            "payload_json": claims[:-1] + ',"sub":"mallory"}'},
        "padded sections": {"alg": "RS256", "kid": "rsa1", "claims": GOOD, "padded": True},
        "padded ES256": {"alg": "ES256", "kid": "ec1", "claims": GOOD, "padded": True},
        "payload not an object": {"alg": "RS256", "kid": "rsa1", "payload_json": "[1]"},
        "payload with a BOM": {"alg": "RS256", "kid": "rsa1",
                               "payload_json": "\ufeff" + claims},
        "payload nested 100 deep": {"alg": "RS256", "kid": "rsa1",
                                    "payload_json": claims[:-1] + ',"x":' + "[" * 99
                                    + "]" * 99 + "}"},
        "payload nested 101 deep": {"alg": "RS256", "kid": "rsa1",
                                    "payload_json": claims[:-1] + ',"x":' + '{"a":' * 100
                                    + "1" + "}" * 100 + "}"},
        "payload nested 300 deep": {"alg": "RS256", "kid": "rsa1",
                                    "payload_json": claims[:-1] + ',"x":' + "[" * 299
                                    + "]" * 299 + "}"},
        "payload with a trailing comma": {"alg": "RS256", "kid": "rsa1",
                                          "payload_json": claims[:-1] + ',"x":[1,],}'},
        "header with a trailing comma": {"alg": "RS256", "kid": "rsa1", "claims": GOOD,
                                         "header_json": '{"alg":"RS256","kid":"rsa1",}'},
        "payload with commas only": {"alg": "RS256", "kid": "rsa1", "payload_json": "[,,,]"},
        "payload with NaN": {"alg": "RS256", "kid": "rsa1",
                             "payload_json": claims[:-1] + ',"x":NaN}'},
        "payload with Infinity": {"alg": "RS256", "kid": "rsa1",
                                  "payload_json": claims[:-1] + ',"x":-Infinity}'},
        "duplicate key in a nested object": {"alg": "RS256", "kid": "rsa1",
                                             "payload_json": claims[:-1]
                                             + ',"x":{"a":1,"a":2}}'},
        "sub escaped as half a surrogate pair": {
            "alg": "RS256", "kid": "rsa1",
            "payload_json": claims[:-1].replace('"sub":"alice"', '"sub":"a\\ud800"') + "}"},
        "sub escaped as a low surrogate alone": {
            "alg": "RS256", "kid": "rsa1",
            "payload_json": claims[:-1].replace('"sub":"alice"', '"sub":"\\udce9"') + "}"},
        "sub escaped as a whole surrogate pair": {
            "alg": "RS256", "kid": "rsa1",
            "payload_json": claims[:-1].replace('"sub":"alice"', '"sub":"\\ud83d\\ude00"')
            + "}"},
        "kid escaped as half a surrogate pair": {
            "alg": "RS256", "kid": "rsa1", "claims": GOOD,
            "header_json": '{"alg":"RS256","kid":"\\ud800"}'},
    }
    requests = list(_tokens(keys, specs))
    token = make_token(keys, {"alg": "RS256", "kid": "rsa1", "claims": GOOD})
    head, body, signature = token.split(".")
    requests += [
        ("one = after the signature", _bearer(f"{head}.{body}.{signature}=")),
        ("== inside the payload", _bearer(f"{head}.{body}==.{signature}")),
        ("= in the middle of the signature",
         _bearer(f"{head}.{body}.{signature[:8]}={signature[8:]}")),
        ("three = after the header", _bearer(f"{head}===.{body}.{signature}")),
    ]
    config = {"providers": {"p": provider(keys.jwks())}, "rules": [{"prefix": "/"}]}
    return Group("json shapes", config, tuple(requests))


def audiences(keys: KeySet) -> Group:
    audience_list = ["https://api.example/", "http://api2.example", "api3.example/",
                     "urn:plain"]
    specs = {f"aud {aud!r}": {"alg": "HS256", "kid": "hs1", "claims": {**GOOD, "aud": aud}}
             for aud in ["api.example", "https://api.example", "http://api.example/",
                         "api.example//", "https://api.example//", "HTTPS://api.example",
                         "api2.example/", "https://api2.example", "ftp://api2.example",
                         "api3.example", "https://api3.example/", "urn:plain/",
                         "https://urn:plain", "http:/api.example", "https://", "/",
                         ""]}
    specs["aud list with one normalised match"] = {
        "alg": "HS256", "kid": "hs1", "claims": {**GOOD, "aud": ["other", "api.example"]}}
    config = {"providers": {"p": provider(keys.jwks(), audiences=audience_list)},
              "rules": [{"prefix": "/rule", "audiences": ["https://rule.example/"]},
                        {"prefix": "/"}]}
    requests = list(_tokens(keys, specs))
    requests.append(("rule audiences normalised", _bearer(make_token(keys, {
        "alg": "HS256", "kid": "hs1", "claims": {**GOOD, "aud": "rule.example"}}), "/rule")))
    return Group("audiences", config, tuple(requests))


def claim_headers(keys: KeySet) -> Group:
    values: dict[str, Any] = {
        "CR LF": "a\r\nx-injected: 1", "LF": "a\nb", "CR": "a\rb", "tab": "a\tb",
        "NUL": "a\0b", "DEL": "a\x7fb", "non-ASCII": "h\u00e9llo", "emoji": "\U0001f600",
        "leading space": " a", "integer": 42, "float": 1.5, "true": True, "null": None,
        "object": {"a": 1}, "string list": ["a", "b"], "mixed list": ["a", 1],
        "empty": "", "long": "v" * 3000, "2.0": 2.0, "1e20": 1e20, "-3": -3, "0.1": 0.1,
        "1e-7": 1e-7, "123456789.125": 123456789.125, "2^53+1": 2**53 + 1, "-2.5": -2.5,
        "1e300": 1e300, "0x01": "a\x01b", "0x1f": "a\x1fb", "U+0080": "a\x80b",
        "nested object": {"b": [1, 2.5, "\u00e9", None, {"c": True}]}, "empty list": [],
        "empty object": {}, "trailing space": "a ", "false": False,
    }
    # (one key per object: Envoy prints an object's keys in its hash map's order, which
    # changes from run to run)
    specs = {f"claim {name}": {"alg": "HS256", "kid": "hs1", "claims": {**GOOD, "note": value}}
             for name, value in values.items()}
    spec = provider(keys.jwks())
    spec["claim_to_headers"] += [{"header_name": "x-jwt-claim", "claim_name": "note"}]
    config = {"providers": {"p": spec}, "rules": [{"prefix": "/"}]}
    return Group("claim headers", config, _tokens(keys, specs))


def _without_kid(jwk: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in jwk.items() if name != "kid"}


def key_sets(keys: KeySet) -> Group:
    """Key sets Envoy loads (a key it cannot use is skipped)."""
    standard = keys.jwks()["keys"]
    no_crv = _without_crv(standard[1])
    bad_ec = {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}
    providers = {
        "some_unusable": provider({"keys": [bad_ec, {"kty": "OKP", "crv": "X25519", "x": "AA"},
                                             standard[0], {"kty": "foo"}, 5]}),
        "no_crv": provider({"keys": [no_crv]}),
        "x509": provider({"rsa-cert": self_signed_pem(keys.rsa, "rsa")}),
        "trailing_comma": provider(json.dumps(keys.jwks())[:-2] + ",]}"),
        "trailing_comma_object": provider(json.dumps(keys.jwks())[:-1] + ",}"),
        "kid_not_a_string": provider({"keys": [{**standard[0], "kid": 5}]}),
        "use_enc": provider({"keys": [{**standard[0], "use": "enc"}]}),
        "more_algorithms": provider({"keys": [standard[2]] + keys.more_jwks()["keys"]}),
        # an Ed25519 key given a signature of another length ends the search (Envoy)
        "ed25519_first": provider({"keys": [_without_kid(keys.more_jwks()["keys"][2]),
                                             _without_kid(standard[0])]}),
        "ed25519_last": provider({"keys": [_without_kid(standard[0]),
                                            _without_kid(keys.more_jwks()["keys"][2])]}),
    }
    rules = [{"prefix": f"/{name}", "provider": name} for name in providers]
    tokens = {
        "RS256": {"alg": "RS256", "kid": "rsa1", "claims": GOOD},
        "RS256 kid rsa-cert": {"alg": "RS256", "kid": "rsa-cert", "claims": GOOD},
        "RS256 without kid": {"alg": "RS256", "claims": GOOD},
        "ES256": {"alg": "ES256", "kid": "ec1", "claims": GOOD},
        "HS256": {"alg": "HS256", "kid": "hs1", "claims": GOOD},
        "HS512 without kid": {"alg": "HS512", "claims": GOOD},
        "EdDSA": {"alg": "EdDSA", "kid": "ed1", "claims": GOOD},
        "EdDSA without kid": {"alg": "EdDSA", "claims": GOOD},
    }
    requests = []
    for name in providers:
        for label, spec in tokens.items():
            requests.append((f"{name}: {label}", _bearer(make_token(keys, spec), f"/{name}")))
    config = {"providers": providers, "rules": rules}
    return Group("key sets", config, tuple(requests))


#: Key sets Envoy refuses (it does not start): name -> the JWKS (a document, or text)
REFUSED_KEY_SETS: dict[str, Callable[[KeySet], Any]] = {
    "no key at all": lambda keys: {"keys": []},
    "no keys field": lambda keys: {},
    "keys not a list": lambda keys: {"keys": {}},
    "no key an object": lambda keys: {"keys": [5, "x"]},
    "every key unusable": lambda keys: {"keys": [
        {"kty": "OKP", "crv": "X448", "x": "AA"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]},
    "EC key whose alg names another curve": lambda keys: {"keys": [
        {**_without_crv(keys.jwks()["keys"][1]), "alg": "ES384"}]},
    "RSA key with an ES alg": lambda keys: {"keys": [{**keys.jwks()["keys"][0],
                                                       "alg": "ES256"}]},
    "X.509 of an Ed25519 key": lambda keys: {"ed": self_signed_pem(keys.ed, "ed")},
    "X.509 of an EC key": lambda keys: {"ec": self_signed_pem(keys.ec, "ec")},
    "X.509 with a broken certificate": lambda keys: {
        "rsa": self_signed_pem(keys.rsa, "rsa"),
        "junk": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
    "Ed25519 key of the wrong length": lambda keys: {"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}]},
    "oct key with an empty k": lambda keys: {"keys": [{"kty": "oct", "k": ""}]},
    "duplicate key in the JSON": lambda keys: '{"keys":[],"keys":' + json.dumps(
        keys.jwks()["keys"]) + "}",
    "not JSON": lambda keys: "{",
}


def _without_crv(jwk: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in jwk.items() if name != "crv"}


def settings(keys: KeySet) -> Group:
    spec = provider(keys.jwks(), clock_skew_seconds=100000)
    long_claims = {**GOOD, "pad": "x" * 12000}
    specs = {
        "expired 90000 s ago, skew 100000": {"alg": "HS256", "kid": "hs1",
                                             "claims": {**GOOD, "exp": "-90000"}},
        "expired 110000 s ago, skew 100000": {"alg": "HS256", "kid": "hs1",
                                              "claims": {**GOOD, "exp": "-110000"}},
        "a 16 kB token": {"alg": "HS256", "kid": "hs1", "claims": long_claims},
    }
    requests = list(_tokens(keys, specs))
    preflight = [("origin", "https://web.example"), ("access-control-request-method", "GET")]
    requests += [
        ("CORS preflight, no token", HttpRequest(method="OPTIONS", path="/orders",
                                                 headers=preflight)),
        ("OPTIONS without the CORS headers", HttpRequest(method="OPTIONS", path="/orders")),
        ("OPTIONS with origin only", HttpRequest(method="OPTIONS", path="/orders",
                                                 headers=preflight[:1])),
    ]
    config = {"providers": {"p": spec}, "rules": [{"prefix": "/"}],
              "bypass_cors_preflight": True}
    return Group("settings", config, tuple(requests))


def no_bypass(keys: KeySet) -> Group:
    preflight = [("origin", "https://web.example"), ("access-control-request-method", "GET")]
    config = {"providers": {"p": provider(keys.jwks())}, "rules": [{"prefix": "/"}]}
    return Group("cors preflight without bypass", config, (
        ("CORS preflight, no token", HttpRequest(method="OPTIONS", path="/orders",
                                                 headers=preflight)),))


GROUPS = (algorithms, numeric_claims, json_shapes, audiences, claim_headers, key_sets, settings,
          no_bypass)


def corpus(keys: KeySet) -> list[Group]:
    return [build(keys) for build in GROUPS]

"""JWT verification (RS256) in a real Envoy (loopback, 1 worker), measured in one run against
peers: no filter, Envoy's native jwt_authn, a Lua filter doing a comparable check, and
filters/jwt_authn compiled.

The Lua filter checks what ours checks on the hot path: it splits the bearer token, decodes
the base64url signature in Lua, verifies RS256 with Envoy's ``verifySignature`` (BoringSSL)
against the imported public key, and matches ``iss`` and ``exp`` in the decoded payload with
Lua patterns (no JSON parser, no claim forwarding).

Two loads: ``repeat`` (every request carries the same token: our token cache answers) and
``fresh`` (every request a distinct token: a full parse and RSA verification each time).
Reported: client-side latency p50/p99 and Envoy CPU per request (/proc schedstat of every
Envoy thread), and our ratios to the Lua filter; first, the module's own work per request in
wasm instructions (wasmtime fuel on a stand-in host: deterministic, no Envoy).

Then, per algorithm (RS256, PS256, ES256, ES384, ES512, EdDSA, HS256), a fresh token each
request through ours and through native jwt_authn: guest instructions per token, and
Envoy CPU per request with our ratio to native (``--algorithm-requests`` each).

    python bench/jwt_authn.py [--requests N] [--concurrency C] [--algorithm-requests N]
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from meshwasm.builder.pipeline import build_filter
from meshwasm_testkit import native_peers
from meshwasm.deploy.envoy.config import EnvoyOptions
from meshwasm.deploy.envoy.process import start_envoy
from meshwasm.deploy.envoy.upstream import run_upstream
from meshwasm.replay.model import UpstreamResponse

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(PROJECT))
from envoy_load import run_load  # noqa: E402
from guest_instructions import StandInHost, instructions_per_request  # noqa: E402

from runtime_tests.jwt_authn.tokens import KeySet, make_token  # noqa: E402

ISSUER = "https://issuer.example"

LUA = """
local PUBKEY_DER = "%s"
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local INDEX = {}
for i = 1, #B64 do INDEX[B64:sub(i, i)] = i - 1 end

local function b64url_decode(text)
  local out, bits, count = {}, 0, 0
  for i = 1, #text do
    local value = INDEX[text:sub(i, i)]
    if value == nil then return nil end
    bits = bits * 64 + value
    count = count + 6
    if count >= 8 then
      count = count - 8
      local byte = math.floor(bits / 2 ^ count)
      out[#out + 1] = string.char(byte)
      bits = bits - byte * 2 ^ count
    end
  end
  return table.concat(out)
end

local key = nil

local function deny(handle, body)
  handle:respond({[":status"] = "401", ["www-authenticate"] = 'Bearer realm="lua"'}, body)
end

function envoy_on_request(handle)
  if key == nil then key = handle:importPublicKey(PUBKEY_DER, #PUBKEY_DER):get() end
  local auth = handle:headers():get("authorization")
  if auth == nil then return deny(handle, "Jwt is missing") end
  local h, p, s = auth:match("^Bearer ([%%w_-]+)%%.([%%w_-]+)%%.([%%w_-]+)$")
  if h == nil then return deny(handle, "Jwt is malformed") end
  local signature = b64url_decode(s)
  local payload = b64url_decode(p)
  if signature == nil or payload == nil then return deny(handle, "Jwt is malformed") end
  local input = h .. "." .. p
  local ok = handle:verifySignature("sha256", key, signature, #signature, input, #input)
  if not ok then return deny(handle, "Jwt verification fails") end
  if payload:match('"iss":"([^"]*)"') ~= "%s" then return deny(handle, "bad issuer") end
  local exp = tonumber(payload:match('"exp":(%%d+)'))
  if exp == nil or exp < os.time() then return deny(handle, "Jwt is expired") end
end
"""


def lua_source(keys: KeySet) -> str:
    der = keys.rsa.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    return LUA % ("".join(f"\\{byte:03d}" for byte in der), ISSUER)


#: alg -> the kid of its test key
ALGORITHM_KIDS = {"RS256": "rsa1", "PS256": "rsa1", "ES256": "ec1", "ES384": "ec384",
                  "ES512": "ec521", "EdDSA": "ed1", "HS256": "hs1"}


def config(keys: KeySet) -> dict:
    jwks = {"keys": keys.jwks()["keys"] + keys.more_jwks()["keys"]}
    return {"providers": {"bench": {
        "issuer": ISSUER, "local_jwks": {"inline_string": json.dumps(jwks)},
        "claim_to_headers": [{"header_name": "x-jwt-sub", "claim_name": "sub"}]}},
        "rules": [{"prefix": "/"}]}


class TokenHost(StandInHost):
    """The stand-in host of ``guest_instructions`` whose ``authorization`` header carries the
    next of ``tokens`` in each request."""

    def __init__(self, plugin_config: bytes, tokens: list[str]) -> None:
        self.tokens = tokens
        self.index = 0
        super().__init__(plugin_config)

    def new_request(self) -> None:
        token = self.tokens[self.index % len(self.tokens)]
        self.index += 1
        self.request_template["authorization"] = f"Bearer {token}".encode()
        super().new_request()

    def functions(self) -> dict[str, object]:
        functions = super().functions()

        def now(caller: Any, out: int) -> int:
            assert self.memory is not None
            self.memory.write(caller, struct.pack("<Q", time.time_ns()), out)
            return 0

        functions["proxy_get_current_time_nanoseconds"] = now
        return functions


def guest_cost(module: Path, settings: dict, tokens: list[str], requests: int) -> float:
    """Wasm instructions (fuel) per request of ``module`` for ``tokens`` in turn."""
    host = TokenHost(json.dumps(settings).encode(), tokens)
    return instructions_per_request(module, requests, host)


def measure(options: EnvoyOptions, bootstrap: dict | None, tokens: list[str],
            concurrency: int) -> dict[str, float]:
    with start_envoy(options, config=bootstrap, wasm_log_level="error") as envoy:
        def bearer(token: str) -> tuple[str, dict[str, str]]:
            return ("/bench", {"authorization": f"Bearer {token}"})

        run_load(envoy.listener_port, envoy.pid, [[bearer(tokens[0])] * 200])  # warm-up
        share = len(tokens) // concurrency
        load = [[bearer(token) for token in tokens[index * share:(index + 1) * share]]
                for index in range(concurrency)]
        result = run_load(envoy.listener_port, envoy.pid, load)
    failures = [status for status in result.statuses if status != 200]
    if failures and (bootstrap is not None or options.module is not None):
        raise SystemExit(f"{len(failures)} requests failed (statuses {sorted(set(failures))})")
    return result.as_row()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--algorithm-requests", type=int, default=300,
                        help="fresh tokens per algorithm in the per-algorithm comparison")
    args = parser.parse_args()
    keys = KeySet()
    settings = config(keys)
    claims = {"iss": ISSUER, "sub": "bench", "exp": "+3600"}
    loads = {
        "repeat": [make_token(keys, {"alg": "RS256", "kid": "rsa1", "claims": claims})]
        * args.requests,
        "fresh": [make_token(keys, {"alg": "RS256", "kid": "rsa1",
                                    "claims": {**claims, "jti": str(index)}})
                  for index in range(args.requests)],
    }
    with tempfile.TemporaryDirectory() as scratch, run_upstream(UpstreamResponse(body=b"ok")) as up:
        ours = build_filter(PROJECT / "filters" / "jwt_authn" / "filter.py",
                            Path(scratch) / "jwt_authn.wasm").output
        plain = EnvoyOptions(upstream_port=up.port)
        with_module = EnvoyOptions(upstream_port=up.port, module=ours,
                                   plugin_config=json.dumps(settings).encode())
        native = native_peers.native_bootstrap(plain, "jwt_authn", settings)
        lua = native_peers.lua(plain, lua_source(keys))
        count = min(args.requests, 300)
        print(f"guest wasm instructions per request (fuel, {count} requests after 100): "
              f"repeat {guest_cost(ours, settings, loads['repeat'][:1], count):,.0f}, "
              f"fresh {guest_cost(ours, settings, loads['fresh'], count):,.0f}")
        for load, tokens in loads.items():
            rows = {
                "no filter": measure(plain, None, tokens, args.concurrency),
                "native jwt_authn": measure(plain, native, tokens, args.concurrency),
                "lua RS256 check": measure(plain, lua, tokens, args.concurrency),
                "meshwasm jwt_authn": measure(with_module, None, tokens, args.concurrency),
            }
            print(f"{load}: {args.requests} requests, {args.concurrency} keep-alive clients, "
                  "1 Envoy worker")
            print(f"  {'':20} {'p50 us':>8} {'p99 us':>8} {'Envoy CPU us/req':>17}")
            for label, row in rows.items():
                print(f"  {label:20} {row['p50']:8.0f} {row['p99']:8.0f} {row['cpu']:17.1f}")
            mine, peer = rows["meshwasm jwt_authn"], rows["lua RS256 check"]
            print(f"  ours / lua: p50 {mine['p50'] / peer['p50']:.2f}x, p99 "
                  f"{mine['p99'] / peer['p99']:.2f}x, CPU per request "
                  f"{mine['cpu'] / peer['cpu']:.2f}x; ours / native: CPU per request "
                  f"{mine['cpu'] / rows['native jwt_authn']['cpu']:.2f}x")
        compare_algorithms(keys, settings, ours, with_module, native, plain, args)
    return 0


def compare_algorithms(keys: KeySet, settings: dict, module: Path, with_module: EnvoyOptions,
                       native: dict, plain: EnvoyOptions, args: argparse.Namespace) -> None:
    """A fresh token per request, per algorithm: ours against native jwt_authn."""
    count = args.algorithm_requests
    claims = {"iss": ISSUER, "sub": "bench", "exp": "+3600"}
    print(f"fresh tokens per algorithm: {count} requests each, {args.concurrency} clients, "
          "1 Envoy worker")
    print(f"  {'alg':6} {'guest instr/token':>18} {'ours CPU us':>12} {'native CPU us':>14} "
          f"{'ours/native':>12}")
    for alg, kid in ALGORITHM_KIDS.items():
        def fresh(number: int) -> list[str]:
            return [make_token(keys, {"alg": alg, "kid": kid,
                                      "claims": {**claims, "jti": f"{n}"}})
                    for n in range(number)]

        # (guest_cost runs 100 warm-up requests first: every one of the 150 a new token)
        fuel = guest_cost(module, settings, fresh(150), 50)
        tokens = fresh(count)
        mine = measure(with_module, None, tokens, args.concurrency)
        theirs = measure(plain, native, tokens, args.concurrency)
        print(f"  {alg:6} {fuel:18,.0f} {mine['cpu']:12.1f} {theirs['cpu']:14.1f} "
              f"{mine['cpu'] / theirs['cpu']:11.1f}x")


if __name__ == "__main__":
    sys.exit(main())

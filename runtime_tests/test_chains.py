"""Plugin chains: our jwt_authn, our rate_limit and a raw-ABI C module as three WasmPlugins,
ordered as Istio orders them, replayed in the harness, from source and in real Envoy 1.40
with the same verdicts (runtime_tests/chains/)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import string
from contextlib import ExitStack
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshwasm.builder.pipeline import build_filter
from meshwasm.cli import main
from meshwasm.deploy.envoy.chain import replay_chain_in_envoy
from meshwasm.deploy.istio.plugin_chain import (
    ChainError, ChainPlugin, istio_order, load_wasmplugin, plain_chain,
)
from meshwasm.harness.chain import replay_chain
from meshwasm.replay.traffic import load_traffic

from .conftest import PROJECT, RUNTIME_TESTS

CHAINS = RUNTIME_TESTS / "chains"
#: given on the command line out of order: Istio's order must come out
MANIFESTS = ("c-filter", "rate-limit", "jwt-authn")
SECRET = b"meshwasm-chain-secret-0123456789abcdef"
EXPIRES = 4102444800  # 2100-01-01: valid on the harness's virtual clock and the wall clock
COMPARED_HEADERS = ("x-c-filter", "x-c-config", "x-ratelimit-limit", "x-ratelimit-remaining",
                    "www-authenticate")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _hs256_token(subject: str) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "kid": "hs1", "typ": "JWT"}).encode())
    claims = _b64url(json.dumps({"iss": "https://issuer.example", "aud": "api",
                                 "sub": subject, "exp": EXPIRES}).encode())
    signature = hmac.new(SECRET, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{_b64url(signature)}"


def _render(source: Path, target: Path, **values: str) -> Path:
    text = string.Template(source.read_text()).safe_substitute(values)
    target.write_text(text)
    return target


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory: pytest.TempPathFactory, c_filter_wasm: Path) -> Path:
    """The manifests and traffic rendered (key set, tokens) beside the three modules."""
    folder = tmp_path_factory.mktemp("chain")
    for name in ("jwt_authn", "rate_limit"):
        build_filter(PROJECT / "filters" / name / "filter.py", folder / f"{name}.wasm")
    shutil.copy(c_filter_wasm, folder / "hello_c.wasm")
    jwks = json.dumps({"keys": [{"kty": "oct", "kid": "hs1", "alg": "HS256",
                                 "k": _b64url(SECRET)}]}, separators=(",", ":"))
    for name in MANIFESTS:
        _render(CHAINS / f"{name}.wasmplugin.yaml", folder / f"{name}.wasmplugin.yaml",
                JWKS=jwks)
    _render(CHAINS / "chain.traffic.yaml", folder / "chain.traffic.yaml",
            alice=_hs256_token("alice"), bob=_hs256_token("bob"))
    return folder


def _manifests(folder: Path) -> list[str]:
    return [str(folder / f"{name}.wasmplugin.yaml") for name in MANIFESTS]


def _replay(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["replay", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


# -- Istio's order ------------------------------------------------------------------------
def _plugin(name: str, phase: str = "UNSPECIFIED_PHASE", priority: int = 0,
            namespace: str = "default") -> ChainPlugin:
    return ChainPlugin(name=name, module=Path(f"{name}.wasm"), phase=phase, priority=priority,
                       namespace=namespace, declared_in=f"{name}.yaml")


def test_phases_come_in_istios_order_and_unspecified_goes_last() -> None:
    plugins = [_plugin("none"), _plugin("stats", "STATS"), _plugin("authz", "AUTHZ"),
               _plugin("authn", "AUTHN")]
    assert [p.name for p in istio_order(plugins)] == ["authn", "authz", "stats", "none"]


def test_higher_priority_first_within_a_phase_then_namespace_and_name() -> None:
    plugins = [_plugin("b", "AUTHZ", 0), _plugin("a", "AUTHZ", 0, namespace="zz"),
               _plugin("low", "AUTHZ", -5), _plugin("high", "AUTHZ", 100),
               _plugin("first", "AUTHN", -100)]
    assert [p.name for p in istio_order(plugins)] == ["first", "high", "b", "a", "low"]


def test_plain_modules_keep_the_order_given_and_need_distinct_names() -> None:
    chain = istio_order(plain_chain([Path("x/b.wasm"), Path("a.wasm")]))
    assert [p.name for p in chain] == ["b", "a"]
    with pytest.raises(ChainError, match="named 'filter'"):
        plain_chain([Path("one/filter.wasm"), Path("two/filter.wasm")])


def test_match_selects_inbound_traffic_by_mode_and_port() -> None:
    def plugin(*match: dict[str, object]) -> ChainPlugin:
        return ChainPlugin(name="p", module=Path("p.wasm"), match=tuple(match))

    assert plugin().applies_to_inbound(80)
    assert plugin({"mode": "SERVER"}).applies_to_inbound(80)
    assert not plugin({"mode": "CLIENT"}).applies_to_inbound(80)
    assert plugin({"ports": [{"number": 8080}]}).applies_to_inbound(8080)
    assert not plugin({"mode": "CLIENT_AND_SERVER", "ports": [{"number": 8080}]}
                      ).applies_to_inbound(80)
    assert plugin({"mode": "CLIENT"}, {"ports": [{"number": 80}]}).applies_to_inbound(80)


def test_a_manifest_gives_config_phase_priority_and_fail_strategy(chain_dir: Path) -> None:
    plugin = load_wasmplugin(chain_dir / "c-filter.wasmplugin.yaml")
    assert (plugin.name, plugin.namespace, plugin.phase, plugin.priority) == \
        ("c-filter", "istio-system", "UNSPECIFIED_PHASE", 0)
    assert plugin.failure_policy == "FAIL_OPEN"
    assert json.loads(plugin.plugin_config or b"") == {"greeting": "chained"}
    assert plugin.module == chain_dir / "hello_c.wasm"


@pytest.mark.parametrize(("body", "message"), [
    ("spec: {url: hello_c.wasm, phase: LAST}", "spec.phase: Unsupported value: \"LAST\""),
    ("spec: {url: missing.wasm}", "spec.url 'missing.wasm': no module at"),
    ("spec: {url: 'https://example.com/x.wasm'}", "does not download modules over http"),
    ("spec: [oops", "not YAML"),
])
def test_a_bad_manifest_is_refused_naming_file_and_field(chain_dir: Path, tmp_path: Path,
                                                         body: str, message: str) -> None:
    shutil.copy(chain_dir / "hello_c.wasm", tmp_path / "hello_c.wasm")
    manifest = tmp_path / "bad.yaml"
    manifest.write_text("apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
                        f"metadata: {{name: bad}}\n{body}\n")
    with pytest.raises(ChainError, match="bad.yaml") as raised:
        load_wasmplugin(manifest)
    assert message in str(raised.value)
    code, output = _replay(["--wasmplugin", str(manifest),
                            str(chain_dir / "chain.traffic.yaml")])
    assert code == 2 and "bad.yaml" in output and "Traceback" not in output


# -- the chain, replayed -------------------------------------------------------------------
def test_the_chain_replays_in_the_harness_in_istios_order(chain_dir: Path) -> None:
    code, output = _replay(["--wasmplugin", *_manifests(chain_dir),
                            str(chain_dir / "chain.traffic.yaml")])
    assert code == 0, output
    assert "chain: jwt-authn -> rate-limit -> c-filter" in output
    assert "5 requests: 5 as expected" in output


def test_plugin_configs_and_log_lines_are_per_plugin(chain_dir: Path) -> None:
    chain = istio_order(load_wasmplugin(Path(path)) for path in _manifests(chain_dir))
    verdicts = replay_chain(chain, load_traffic(chain_dir / "chain.traffic.yaml"))
    assert verdicts[1].header("x-c-config") == '{"greeting": "chained"}'
    assert {line.plugin for line in verdicts[1].logs} >= {"c-filter"}
    assert all(line.plugin != "c-filter" for line in verdicts[0].logs)


def test_the_chain_replays_from_source(chain_dir: Path, tmp_path: Path) -> None:
    """The two meshwasm filters from their .py, the C module compiled, in one chain."""
    for name in MANIFESTS:
        text = (chain_dir / f"{name}.wasmplugin.yaml").read_text()
        for module, folder in (("jwt_authn.wasm", "jwt_authn"),
                               ("rate_limit.wasm", "rate_limit")):
            text = text.replace(f"url: {module}",
                                f"url: file://{PROJECT / 'filters' / folder / 'filter.wasm'}")
        text = text.replace("url: hello_c.wasm", f"url: file://{chain_dir / 'hello_c.wasm'}")
        (tmp_path / f"{name}.wasmplugin.yaml").write_text(text)
    code, output = _replay(["--engine", "source", "--wasmplugin", *_manifests(tmp_path),
                            str(chain_dir / "chain.traffic.yaml")])
    assert code == 0, output
    assert "5 requests: 5 as expected" in output


def _trapping_chain(chain_dir: Path, tmp_path: Path) -> list[ChainPlugin]:
    """The chain with c-filter (FAIL_OPEN) replaced by a module that traps on a request."""
    from tests.harness.wat import Wat, write
    write(tmp_path, Wat().module({"proxy_on_request_headers": "(unreachable)"}), "hello_c.wasm")
    for name in MANIFESTS:
        text = (chain_dir / f"{name}.wasmplugin.yaml").read_text()
        text = text.replace("url: jwt_authn.wasm", f"url: {chain_dir / 'jwt_authn.wasm'}")
        text = text.replace("url: rate_limit.wasm", f"url: {chain_dir / 'rate_limit.wasm'}")
        (tmp_path / f"{name}.wasmplugin.yaml").write_text(text)
    return istio_order(load_wasmplugin(Path(path)) for path in _manifests(tmp_path))


#: statuses of chain.traffic.yaml when c-filter traps at its first request and is skipped after
TRAPPED_STATUSES = [401, 503, 200, 429, 200]


def test_a_failed_fail_open_plugin_is_skipped_and_the_rest_still_run(
        chain_dir: Path, tmp_path: Path) -> None:
    chain = _trapping_chain(chain_dir, tmp_path)
    verdicts = replay_chain(chain, load_traffic(chain_dir / "chain.traffic.yaml"))
    assert [v.status for v in verdicts] == TRAPPED_STATUSES
    assert verdicts[1].header("x-ratelimit-remaining") == "1"  # the 503 went through rate-limit
    assert any("c-filter: " in note for note in verdicts[1].notes)
    assert verdicts[2].upstream_request is not None  # /deny passed: c-filter is skipped


@pytest.mark.envoy
def test_envoy_agrees_on_a_trapping_plugin_in_the_chain(chain_dir: Path,
                                                        tmp_path: Path) -> None:
    chain = _trapping_chain(chain_dir, tmp_path)
    traffic = load_traffic(chain_dir / "chain.traffic.yaml")
    harness, envoy = replay_chain(chain, traffic), replay_chain_in_envoy(chain, traffic)
    assert [v.status for v in envoy] == TRAPPED_STATUSES
    for exchange, ours, theirs in zip(traffic.exchanges, harness, envoy):
        assert ours.header("x-ratelimit-remaining") == theirs.header("x-ratelimit-remaining"), \
            exchange.name
        assert (ours.upstream_request is None) == (theirs.upstream_request is None), \
            exchange.name


@pytest.mark.envoy
def test_envoy_runs_the_same_chain_with_the_same_verdicts(chain_dir: Path) -> None:
    code, output = _replay(["--engine", "envoy", "--wasmplugin", *_manifests(chain_dir),
                            str(chain_dir / "chain.traffic.yaml")])
    assert code == 0, output
    chain = istio_order(load_wasmplugin(Path(path)) for path in _manifests(chain_dir))
    traffic = load_traffic(chain_dir / "chain.traffic.yaml")
    harness, envoy = replay_chain(chain, traffic), replay_chain_in_envoy(chain, traffic)
    for exchange, ours, theirs in zip(traffic.exchanges, harness, envoy):
        assert (ours.status, ours.body) == (theirs.status, theirs.body), exchange.name
        for name in COMPARED_HEADERS:
            assert ours.header(name) == theirs.header(name), (exchange.name, name)
        assert (ours.upstream_request is None) == (theirs.upstream_request is None)
        assert sorted({line.plugin for line in ours.logs}) == \
            sorted({line.plugin for line in theirs.logs}), exchange.name


def test_an_oci_url_is_pulled_with_its_digest_checked(chain_dir: Path, tmp_path: Path) -> None:
    from meshwasm_testkit.local_registry import RegistryStartError, run_registry
    from meshwasm.deploy.oci.transfer import push
    with ExitStack() as stack:
        try:
            registry = stack.enter_context(run_registry())
        except RegistryStartError as error:
            pytest.fail(f"cannot start the OCI registry this test needs: {error}",
                        pytrace=False)
        pushed = push(chain_dir / "hello_c.wasm", f"{registry.host}/chain/c:v1")
        text = (chain_dir / "c-filter.wasmplugin.yaml").read_text()
        manifest = tmp_path / "c-filter.wasmplugin.yaml"
        manifest.write_text(text.replace("url: hello_c.wasm", f"url: oci://{pushed.pinned}"))
        pulled = tmp_path / "pulled"
        pulled.mkdir()
        plugin = load_wasmplugin(manifest, pull_dir=pulled)
        assert plugin.module.read_bytes() == (chain_dir / "hello_c.wasm").read_bytes()
        wrong = tmp_path / "wrong.wasmplugin.yaml"
        wrong.write_text(text.replace("url: hello_c.wasm",
                                      f"url: oci://{registry.host}/chain/c@sha256:{'0' * 64}"))
        with pytest.raises(ChainError, match="wrong.wasmplugin.yaml: spec.url .*cannot pull"):
            load_wasmplugin(wrong, pull_dir=pulled)

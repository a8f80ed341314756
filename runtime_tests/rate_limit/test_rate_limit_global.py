"""filters/rate_limit's global mode: the scripted rate-limit service (global_scripted/*.yaml in
the harness, source mode and Envoy), hostile answers, and its configuration errors.
Real Envoy against a counting service: test_rate_limit_service.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proxy_wasm import protowire

from meshwasm import engines
from meshwasm.builder.pipeline import build_filter
from meshwasm.harness import HarnessError, replay_module
from meshwasm.harness.replay import CompiledPlugin
from meshwasm.replay.expect import evaluate
from meshwasm.replay.model import Exchange, Expectation, GrpcAnswer, HttpRequest, UpstreamResponse
from meshwasm.replay.traffic import load_traffic, parse_traffic

from ..conftest import PROJECT

FILTER = PROJECT / "filters" / "rate_limit" / "filter.py"
sys.path.insert(0, str(FILTER.parent))  # the filter's own message codec, as the oracle
import rls_proto  # noqa: E402
SCENARIOS = sorted((Path(__file__).parent / "global_scripted").glob("*.yaml"))


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_filter(FILTER, tmp_path_factory.mktemp("rlg") / "rate_limit.wasm").output


@pytest.mark.parametrize("engine", ["harness", "source",
                                    pytest.param("envoy", marks=pytest.mark.envoy)])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda path: path.stem)
def test_scripted_service_scenario(module: Path, scenario: Path, engine: str) -> None:
    traffic = load_traffic(scenario)
    runner = engines.get(engine)
    outcomes = evaluate(traffic, runner.replay(runner.target(FILTER, module), traffic))
    assert {o.exchange.name: o.mismatches for o in outcomes if not o.ok} == {}
    assert len(outcomes) == len(traffic.exchanges)


@pytest.mark.parametrize("config, fields", [
    ("{global: {domain: api, rate_limits: [{actions: []}]}}",
     ["global.cluster", "global.rate_limits[0].actions"]),
    ("{global: {domain: api, cluster: rls, timeout_ms: 0, rate_limits: [{actions: "
     "[{request_headers: {header_name: X-Up}}]}]}}",
     ["global.timeout_ms", "global.rate_limits[0].actions[0].request_headers.header_name",
      "global.rate_limits[0].actions[0].request_headers"]),
    ("{global: {domain: api, cluster: rls, rate_limits: [{actions: "
     "[{generic_key: {descriptor_value: a}, remote_address: {}}]}]}}",
     ["global.rate_limits[0].actions[0]"]),
])
def test_bad_global_configuration_names_the_field(module: Path, config: str,
                                                  fields: list[str]) -> None:
    traffic = parse_traffic(f"plugin_config: {config}\nrequests: [{{name: r}}]\n", "t.yaml")
    with pytest.raises(HarnessError) as caught:
        replay_module(module, traffic)
    for field in fields:
        assert field in str(caught.value)


def _field(number: int, value: bytes | int) -> bytes:
    return protowire.field(number, value)


def _answer(plugin: CompiledPlugin, message: bytes) -> tuple[int, dict[str, str], dict]:
    """One request with x-user through ``plugin``, the service answering ``message``."""
    # (CompiledPlugin runs one VM: the proxy's scripts, not an exchange's, answer it)
    plugin.host.proxy.grpc = {"ratelimit": {f"{rls_proto.SERVICE}/{rls_proto.METHOD}":
                                            GrpcAnswer(messages=(message,))}}
    exchange = Exchange(name="probe", request=HttpRequest(path="/", headers=[("x-user", "u")]),
                        upstream=UpstreamResponse(), expect=Expectation())
    verdict = plugin.run(exchange)
    upstream = dict(verdict.upstream_request.headers) if verdict.upstream_request else {}
    return verdict.status, dict(verdict.headers), upstream


HOSTILE_CONFIG = {"stat_prefix": "h", "enable_x_ratelimit_headers": "DRAFT_VERSION_03",
                  "global": {"domain": "d", "cluster": "ratelimit", "rate_limits": [
                      {"actions": [{"request_headers": {"header_name": "x-user",
                                                        "descriptor_key": "user"}}]}]}}


def test_headers_the_proxy_would_refuse_are_dropped(module: Path) -> None:
    plugin = CompiledPlugin(module, json.dumps(HOSTILE_CONFIG).encode())
    bad = _field(3, _field(1, b"x-evil") + _field(2, b"a\r\nset-cookie: x"))
    good = _field(3, _field(1, b"X-Fine") + _field(2, b"yes"))
    bad_request = _field(4, _field(1, b"bad name") + _field(2, b"v"))
    status, headers, upstream = _answer(plugin, _field(1, 1) + bad + good + bad_request)
    assert status == 200
    assert headers.get("x-fine") == "yes" and "x-evil" not in headers
    assert "bad name" not in upstream
    assert plugin.host.failed is None


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=st.one_of(
    st.binary(max_size=64),
    st.lists(st.tuples(st.integers(1, 7), st.one_of(st.integers(0, 2**64 - 1),
                                                     st.binary(max_size=24))),
             max_size=6).map(lambda parts: b"".join(_field(n, v) for n, v in parts))))
def test_hostile_answers_never_trap(module: Path, message: bytes) -> None:
    plugin = CompiledPlugin(module, json.dumps(HOSTILE_CONFIG).encode())
    status, headers, _ = _answer(plugin, message)
    try:
        over_limit = rls_proto.Response(message).over_limit
    except ValueError:
        over_limit = False  # an unreadable answer is an error: fail open by default
    assert status == (429 if over_limit else 200)
    assert plugin.host.failed is None

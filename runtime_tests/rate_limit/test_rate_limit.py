"""filters/rate_limit: its scenarios in the harness, the same scenarios in real Envoy against
Envoy's native local_ratelimit (same statuses and x-ratelimit-* headers), refill on the
virtual clock, the bounded key ring, and hostile headers/configurations under hypothesis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshwasm.builder.pipeline import build_filter
from meshwasm_testkit.native_peers import native_bootstrap_for
from meshwasm.deploy.envoy.replay import replay_in_envoy
from meshwasm.harness import HarnessError, replay_module
from meshwasm.harness.replay import CompiledPlugin
from meshwasm.replay.expect import evaluate
from meshwasm.replay.model import Exchange, Expectation, HttpRequest, UpstreamResponse
from meshwasm.replay.traffic import load_traffic, parse_traffic

from ..conftest import PROJECT

FILTER = PROJECT / "filters" / "rate_limit" / "filter.py"
SCENARIOS = sorted(Path(__file__).parent.glob("*.yaml"))
COMPARED = ("x-ratelimit-limit", "x-ratelimit-remaining", "content-type")


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_filter(FILTER, tmp_path_factory.mktemp("rl") / "rate_limit.wasm").output


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda path: path.stem)
def test_scenario_passes_in_the_harness(module: Path, scenario: Path) -> None:
    traffic = load_traffic(scenario)
    outcomes = evaluate(traffic, replay_module(module, traffic))
    assert [o.mismatches for o in outcomes] == [[] for _ in outcomes]


@pytest.mark.envoy
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda path: path.stem)
def test_envoy_native_local_ratelimit_agrees(module: Path, scenario: Path) -> None:
    traffic = load_traffic(scenario)
    config = json.loads(traffic.plugin_config)
    native = replay_in_envoy(None, traffic,
                             bootstrap_for=native_bootstrap_for("rate_limit", config))
    ours = replay_in_envoy(module, traffic, workers=2)
    assert [o.mismatches for o in evaluate(traffic, ours)] == [[] for _ in ours]
    for exchange, theirs, mine in zip(traffic.exchanges, native, ours):
        assert (mine.status, mine.body) == (theirs.status, theirs.body), exchange.name
        for name in COMPARED:
            assert mine.header(name) == theirs.header(name), (exchange.name, name)
        # Envoy's reset is read when the response passes, ours when the token was taken.
        if theirs.header("x-ratelimit-reset") is not None:
            assert abs(int(mine.header("x-ratelimit-reset") or -9)
                       - int(theirs.header("x-ratelimit-reset") or 0)) <= 1, exchange.name


def _request(plugin: CompiledPlugin, path: str = "/", **headers: str) -> tuple[int, dict]:
    exchange = Exchange(name="probe", request=HttpRequest(path=path, headers=list(headers.items())),
                        upstream=UpstreamResponse(), expect=Expectation())
    verdict = plugin.run(exchange)
    return verdict.status, dict(verdict.headers)


def _plugin(module: Path, config: dict) -> CompiledPlugin:
    return CompiledPlugin(module, json.dumps(config).encode())


@pytest.mark.parametrize("scenario", sorted((Path(__file__).parent / "harness_only").glob("*.yaml")),
                         ids=lambda path: path.stem)
def test_virtual_clock_scenario(module: Path, scenario: Path) -> None:
    traffic = load_traffic(scenario)
    outcomes = evaluate(traffic, replay_module(module, traffic))
    assert [o.mismatches for o in outcomes] == [[] for _ in outcomes]


def test_many_clients_stay_within_max_keys(module: Path) -> None:
    plugin = _plugin(module, {"max_keys": 8, "stat_prefix": "ring", "limits": [
        {"name": "u", "key": {"header": "x-user"},
         "token_bucket": {"max_tokens": 1, "tokens_per_fill": 1, "fill_interval": "3600s"}}]})
    for index in range(100):
        assert _request(plugin, **{"x-user": f"user{index}"})[0] == 200
    # 8 slots for 100 clients: most took over a slot (their buckets were fresh afterwards).
    evictions = plugin.host.proxy.metric_values()["ring.http_local_rate_limit.evictions"]
    assert 100 - 8 <= evictions < 100
    # A client's bucket holds while its slot is not needed by others.
    assert [_request(plugin, **{"x-user": "hot"})[0] for _ in range(3)] == [200, 429, 429]


def test_bad_configuration_names_the_field(module: Path) -> None:
    traffic = parse_traffic(
        "plugin_config: {limits: [{name: x, key: {header: X-Bad}, token_bucket: "
        "{max_tokens: 0, fill_interval: 1s}}]}\nrequests: [{name: r}]\n", "t.yaml")
    with pytest.raises(HarnessError) as caught:
        replay_module(module, traffic)
    message = str(caught.value)
    assert "limits[0].token_bucket.max_tokens" in message
    assert "limits[0].key.header" in message


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=40)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(users=st.lists(header_text, min_size=1, max_size=8),
       max_tokens=st.integers(1, 3), max_keys=st.integers(1, 4))
def test_hostile_header_values_never_trap(module: Path, users: list[str], max_tokens: int,
                                          max_keys: int) -> None:
    plugin = _plugin(module, {"max_keys": max_keys, "limits": [
        {"name": "u", "key": {"header": "x-user"},
         "token_bucket": {"max_tokens": max_tokens, "fill_interval": "3600s"}}]})
    counts: dict[str, int] = {}
    for user in users:
        status, _ = _request(plugin, **{"x-user": user})
        assert status in (200, 429)
        counts[user] = counts.get(user, 0) + 1
        if len(set(users)) == 1:  # one client: exact counting, whatever the value
            assert status == (200 if counts[user] <= max_tokens else 429)
        elif counts[user] <= max_tokens:  # evictions only ever hand out fresh buckets
            assert status == 200
    assert plugin.host.failed is None

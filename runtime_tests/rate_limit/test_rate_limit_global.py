"""filters/rate_limit's global mode: the scripted rate-limit service (harness and source mode,
global_scripted/*.yaml), the descriptors and messages it builds, and its configuration errors.
Real Envoy against a counting service: test_rate_limit_service.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm import engines
from meshwasm.build.pipeline import build_filter
from meshwasm.harness import HarnessError, replay_module
from meshwasm.replay.expect import evaluate
from meshwasm.replay.traffic import load_traffic, parse_traffic

from ..conftest import PROJECT

FILTER = PROJECT / "filters" / "rate_limit" / "filter.py"
SCENARIOS = sorted((Path(__file__).parent / "global_scripted").glob("*.yaml"))


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_filter(FILTER, tmp_path_factory.mktemp("rlg") / "rate_limit.wasm").output


@pytest.mark.parametrize("engine", ["harness", "source"])
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

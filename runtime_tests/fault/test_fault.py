"""filters/fault: scenarios in the harness, the same in real Envoy against Envoy's native fault
filter (same statuses, bodies and gRPC headers), delays released from on_tick in Envoy,
max_active_faults across workers, and hostile headers/configurations under hypothesis."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshwasm.builder.pipeline import build_filter
from meshwasm_testkit.native_peers import native_bootstrap, native_bootstrap_for
from meshwasm.deploy.envoy.config import EnvoyOptions, bootstrap
from meshwasm.deploy.envoy.process import start_envoy
from meshwasm.deploy.envoy.replay import replay_in_envoy, send_request
from meshwasm.deploy.envoy.upstream import run_upstream
from meshwasm.harness import HarnessError, replay_module
from meshwasm.harness.replay import CompiledPlugin
from meshwasm.replay.expect import evaluate
from meshwasm.replay.model import Exchange, Expectation, HttpRequest, UpstreamResponse
from meshwasm.replay.traffic import load_traffic

from .. import hostile_corpus
from ..conftest import PROJECT

FILTER = PROJECT / "filters" / "fault" / "filter.py"
HERE = Path(__file__).parent
ENVOY_SCENARIOS = ["header_faults.yaml", "fixed_faults.yaml", "other_cluster.yaml",
                   "delays_and_grpc.yaml"]
#: huge_delays.yaml stalls for Envoy's 5-minute idle timeout: test_envoy_huge_delays_agree
#: checks the same values in Envoy with a short one
HARNESS_SCENARIOS = [*ENVOY_SCENARIOS, "huge_delays.yaml", "grpc_codes.yaml"]
#: the largest gRPC status Envoy's proxy-wasm host passes on (the native filter sends any)
GRPC_STATUS_MAX = 16


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_filter(FILTER, tmp_path_factory.mktemp("fault") / "fault.wasm").output


@pytest.mark.parametrize("scenario", HARNESS_SCENARIOS)
def test_scenario_passes_in_the_harness(module: Path, scenario: str) -> None:
    traffic = load_traffic(HERE / scenario)
    outcomes = evaluate(traffic, replay_module(module, traffic))
    assert [o.mismatches for o in outcomes] == [[] for _ in outcomes]


@pytest.mark.envoy
def test_grpc_codes_agree_with_the_native_filter(module: Path) -> None:
    """grpc_codes.yaml in Envoy, ours and native: the same status, message and upstream
    verdict; the same grpc-status where proxy-wasm can carry it, 2 (UNKNOWN) past 16."""
    traffic = load_traffic(HERE / "grpc_codes.yaml")
    config = json.loads(traffic.plugin_config)
    native = replay_in_envoy(None, traffic, bootstrap_for=native_bootstrap_for("fault", config))
    ours = replay_in_envoy(module, traffic)
    assert [o.mismatches for o in evaluate(traffic, ours)] == [[] for _ in ours]
    for exchange, theirs, mine in zip(traffic.exchanges, native, ours):
        assert (mine.status, mine.header("grpc-message")) == \
            (theirs.status, theirs.header("grpc-message")), exchange.name
        assert (mine.upstream_request is None) == (theirs.upstream_request is None)
        code = theirs.header("grpc-status")
        assert mine.header("grpc-status") == (
            code if code is None or int(code) <= GRPC_STATUS_MAX else "2"), exchange.name


@pytest.mark.envoy
@pytest.mark.parametrize("scenario", ENVOY_SCENARIOS)
def test_envoy_native_fault_agrees(module: Path, scenario: str) -> None:
    traffic = load_traffic(HERE / scenario)
    config = json.loads(traffic.plugin_config)
    native = replay_in_envoy(None, traffic, bootstrap_for=native_bootstrap_for("fault", config))
    ours = replay_in_envoy(module, traffic, workers=2)
    assert [o.mismatches for o in evaluate(traffic, ours)] == [[] for _ in ours]
    for exchange, theirs, mine in zip(traffic.exchanges, native, ours):
        assert (mine.status, mine.body) == (theirs.status, theirs.body), exchange.name
        assert (mine.upstream_request is None) == (theirs.upstream_request is None)
        for name in ("content-type", "grpc-status", "grpc-message"):
            assert mine.header(name) == theirs.header(name), (exchange.name, name)


@pytest.mark.envoy
def test_max_active_faults_is_counted_across_workers(module: Path) -> None:
    """One delayed request holds the only fault slot; a second one, sent meanwhile on another
    connection (another worker, likely), passes undelayed.  The native filter agrees."""
    config = {"delay": {"header_delay": {}, "percentage": {"numerator": 100}},
              "max_active_faults": 1}
    slow = HttpRequest(path="/slow", headers=[("x-envoy-fault-delay-request", "1500")])
    plain = HttpRequest(path="/fast", headers=[("x-envoy-fault-delay-request", "1500")])
    for native in (False, True):
        with run_upstream(UpstreamResponse(body=b"ok")) as upstream:
            options = EnvoyOptions(upstream_port=upstream.port,
                                   module=None if native else module,
                                   plugin_config=json.dumps(config).encode(), workers=2)
            bootstrap = native_bootstrap(options, "fault", config) if native else None
            with start_envoy(options, config=bootstrap) as envoy:
                held: list[int] = []
                first = threading.Thread(target=lambda: held.append(
                    send_request(envoy.listener_port, slow)[0]))
                first.start()
                # wait until the slow request holds the slot (not merely is inside Envoy:
                # its fault filter may not have run yet, and then /fast took the slot)
                active = "http.meshwasm.fault.active_faults" if native \
                    else "wasmcustom.fault.active_faults"
                deadline = time.monotonic() + 30
                while envoy.gauge(active) < 1 and time.monotonic() < deadline:
                    time.sleep(0.01)
                status, _, body = send_request(envoy.listener_port, plain)
                reached_during_delay = [r.path for r in upstream.received]
                first.join(timeout=10)
        assert status == 200 and held == [200], native
        assert reached_during_delay == ["/fast"], native  # it did not wait behind the delay


def _with_idle_timeout(config: dict, seconds: int) -> dict:
    listener = config["static_resources"]["listeners"][0]
    listener["filter_chains"][0]["filters"][0]["typed_config"]["stream_idle_timeout"] = \
        f"{seconds}s"
    return config


@pytest.mark.envoy
def test_envoy_huge_delays_agree(module: Path) -> None:
    """Delays of 2^32 ms and more, held while a short one is released (its on_tick then
    reschedules for the huge one) and ended by a 2 s stream idle timeout: the same statuses
    as Envoy's native filter, no exception, and every fault slot given back."""
    config = {"delay": {"header_delay": {}, "percentage": {"numerator": 100}},
              "max_active_faults": 3}
    delays = {"short": "300", "huge": "4294967296", "huger": "9223372036854775807",
              "wrapped": "9223372036854775808"}
    outcomes = {}
    for native in (False, True):
        with run_upstream(UpstreamResponse(body=b"ok")) as upstream:
            options = EnvoyOptions(upstream_port=upstream.port,
                                   module=None if native else module,
                                   plugin_config=json.dumps(config).encode(), workers=1)
            config_for = native_bootstrap(options, "fault", config) if native else bootstrap(options)
            with start_envoy(options, config=_with_idle_timeout(config_for, 2)) as envoy:
                statuses: dict[str, int] = {}

                def send(name: str) -> None:
                    request = HttpRequest(path=f"/{name}",
                                          headers=[("x-envoy-fault-delay-request", delays[name])])
                    statuses[name] = send_request(envoy.listener_port, request, timeout=30)[0]

                threads = [threading.Thread(target=send, args=(name,))
                           for name in ("short", "huge", "huger")]
                for thread in threads:  # one by one, so the short delay is held first
                    active = envoy.gauge("http.meshwasm.downstream_rq_active")
                    thread.start()
                    while envoy.gauge("http.meshwasm.downstream_rq_active") <= active:
                        pass
                for thread in threads:
                    thread.join(timeout=60)
                send("wrapped")
                if not native:
                    assert envoy.gauge("wasmcustom.fault.active_faults") == 0
                    assert "Traceback" not in envoy.read_log(0)[0]
        outcomes[native] = statuses
    assert outcomes[False] == outcomes[True]
    assert outcomes[False] == {"short": 200, "huge": 504, "huger": 504, "wrapped": 200}


def _run(plugin: CompiledPlugin, headers: list[tuple[str, str]]) -> int:
    exchange = Exchange(name="probe", request=HttpRequest(path="/", headers=headers),
                        upstream=UpstreamResponse(), expect=Expectation())
    return plugin.run(exchange).status


header_value = st.one_of(st.integers(-10, 10**21).map(str), hostile_corpus.header_values())


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(abort=header_value, percent=header_value)
def test_hostile_fault_headers_give_envoys_answer(module: Path, abort: str, percent: str) -> None:
    config = {"abort": {"header_abort": {}, "percentage": {"numerator": 100}}}
    plugin = CompiledPlugin(module, json.dumps(config).encode())
    status = _run(plugin, [("x-envoy-fault-abort-request", abort),
                           ("x-envoy-fault-abort-request-percentage", percent)])
    text = abort.strip(" \t\n\v\f\r").removeprefix("+")
    code = int(text) if text.isascii() and text.isdigit() else None
    share = percent.strip(" \t\n\v\f\r").removeprefix("+")
    numerator = int(share) if share.isascii() and share.isdigit() and int(share) < 2**32 else 100
    expected = code if code is not None and 200 <= code < 600 and numerator >= 100 else 200
    if code is not None and 200 <= code < 600 and 0 < numerator < 100:
        assert status in (code, 200)
    else:
        assert status == expected
    assert plugin.host.failed is None


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delay=header_value)
def test_hostile_delay_values_neither_fail_the_vm_nor_leak_the_slot(module: Path,
                                                                     delay: str) -> None:
    """Whatever the delay header says, the VM keeps serving and the only fault slot comes
    back: the next delay of 5 ms is applied."""
    config = {"delay": {"header_delay": {}, "percentage": {"numerator": 100}},
              "max_active_faults": 1}
    plugin = CompiledPlugin(module, json.dumps(config).encode())
    first = _run(plugin, [("x-envoy-fault-delay-request", delay)])
    probe = Exchange(name="probe", request=HttpRequest(
        path="/", headers=[("x-envoy-fault-delay-request", "5")]),
        upstream=UpstreamResponse(), expect=Expectation())
    second = plugin.run(probe)
    assert first in (200, 504) and plugin.host.failed is None  # 504: the stream idle timeout
    assert (second.status, second.elapsed_ms) == (200, 5)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3), max_leaves=8)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["abort", "delay", "headers", "max_active_faults", "seed",
                              "upstream_cluster", "stat_prefix"]), value=json_values)
def test_hostile_configuration_is_accepted_or_refused_cleanly(module: Path, field: str,
                                                             value: object) -> None:
    try:
        plugin = CompiledPlugin(module, json.dumps({field: value}).encode())
    except HarnessError as refused:
        assert "bad configuration" in str(refused) and field in str(refused)
        return
    assert _run(plugin, []) in (200, 503, 418) and plugin.host.failed is None


def test_deeply_nested_configuration_is_refused_naming_the_field(module: Path) -> None:
    nested = '{"delay": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(HarnessError) as refused:
        CompiledPlugin(module, nested.encode())
    assert "fault: bad configuration: delay[0][0][0][0]...: nested more than 1000 levels deep" \
        in str(refused.value)
    assert "RecursionError" not in str(refused.value)

"""filters/rate_limit's global mode in real Envoy against a counting rate-limit service on
loopback (meshwasm_testkit.rate_limit_service), and Envoy's native envoy.filters.http.ratelimit
against the same service with the same traffic: the same verdicts, the same descriptors asked, and the same
failure handling (a service error, a late answer, an unreachable service; fail open and fail
closed)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from meshwasm.builder.pipeline import build_filter
from meshwasm_testkit.native_peers import native_bootstrap
from meshwasm.deploy.envoy.config import EnvoyOptions, free_port
from meshwasm.deploy.envoy.process import EnvoyProcess, start_envoy
from meshwasm.deploy.envoy.replay import send_request
from meshwasm.deploy.envoy.upstream import run_upstream
from meshwasm.replay.model import HttpRequest, UpstreamResponse

from ..conftest import PROJECT
from meshwasm_testkit.rate_limit_service import RateLimitService, Rule, run_rate_limit_service

pytestmark = pytest.mark.envoy

FILTER = PROJECT / "filters" / "rate_limit" / "filter.py"
COMPARED = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-envoy-ratelimited")

RULES = [
    Rule((("user", None),), 2),
    Rule((("remote_address", None), ("header_match", "login")), 1, name="login"),
    Rule((("generic_key", "all"), ("tenant", None)), 1, unit="HOUR"),
]
CONFIG: dict[str, Any] = {
    "stat_prefix": "api",
    "enable_x_ratelimit_headers": "DRAFT_VERSION_03",
    "global": {
        "domain": "api", "cluster": "ratelimit", "timeout_ms": 1000,
        "rate_limits": [
            {"actions": [{"request_headers": {"header_name": "x-user",
                                              "descriptor_key": "user"}}]},
            {"actions": [{"remote_address": {}}, {"header_value_match": {
                "descriptor_value": "login", "headers": [{"name": ":path", "prefix": "/login"}]}}]},
            {"actions": [{"generic_key": {"descriptor_value": "all"}},
                         {"request_headers": {"header_name": "x-tenant",
                                              "descriptor_key": "tenant",
                                              "skip_if_absent": True}}]},
            # no rule for it: only the descriptors asked show it (paid plans send none)
            {"actions": [{"header_value_match": {
                "descriptor_key": "plan", "descriptor_value": "free", "expect_match": False,
                "headers": [{"name": "x-plan", "exact": "paid"}]}}]},
        ],
    },
}
#: (path, headers, the status expected)
TRAFFIC = [
    ("/a", {"x-user": "alice"}, 200),
    ("/a", {"x-user": "alice"}, 200),
    ("/a", {"x-user": "alice"}, 429),  # alice's 2 per minute are used
    ("/a", {"x-user": "bob"}, 200),
    ("/login", {}, 200),
    ("/login", {}, 429),  # 1 per minute per client address on /login
    ("/a", {"x-tenant": "t1"}, 200),
    ("/a", {"x-tenant": "t1"}, 429),  # 1 per hour per tenant
    ("/a", {"x-tenant": "t2"}, 200),
    ("/b", {}, 200),  # only the generic key and the plan: no limit for them
    ("/b", {"x-plan": "paid", "x-user": "dave"}, 200),
]

Verdict = tuple[int, dict[str, str]]


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_filter(FILTER, tmp_path_factory.mktemp("rls") / "rate_limit.wasm").output


@pytest.fixture(scope="module")
def service() -> Iterator[RateLimitService]:
    with run_rate_limit_service(RULES) as running:
        yield running


@contextmanager
def _envoy(module: Path | None, config: dict[str, Any],
           service: RateLimitService) -> Iterator[EnvoyProcess]:
    """Envoy running our module (``module``) or, for None, the native filter, configured by
    ``config``; its ``ratelimit`` cluster is ``service``, its ``gone`` cluster a port nothing
    listens on."""
    with ExitStack() as stack:
        upstream = stack.enter_context(run_upstream(UpstreamResponse()))
        options = EnvoyOptions(upstream_port=upstream.port, module=module,
                               plugin_config=json.dumps(config).encode(), workers=2,
                               grpc_clusters=(("ratelimit", service.port),
                                              ("gone", free_port())))
        bootstrap = None if module is not None else native_bootstrap(options, "rate_limit", config)
        yield stack.enter_context(start_envoy(options, config=bootstrap))


def _send(envoy: EnvoyProcess, path: str, headers: dict[str, str]) -> Verdict:
    status, answer, _ = send_request(envoy.listener_port,
                                     HttpRequest(path=path, headers=list(headers.items())),
                                     timeout=20)
    found = dict(answer)
    return status, {name: found[name] for name in COMPARED if name in found}


def _run_traffic(module: Path | None, service: RateLimitService) -> tuple[list[Verdict], list]:
    service.reset()
    with _envoy(module, CONFIG, service) as envoy:
        verdicts = [_send(envoy, path, headers) for path, headers, _ in TRAFFIC]
    return verdicts, list(service.calls)


def test_global_mode_agrees_with_envoys_native_ratelimit(module: Path,
                                                         service: RateLimitService) -> None:
    ours, our_calls = _run_traffic(module, service)
    assert [status for status, _ in ours] == [status for _, _, status in TRAFFIC]
    assert ours[0][1] == {"x-ratelimit-limit": "2, 2;w=60", "x-ratelimit-remaining": "1"}
    assert ours[2][1]["x-envoy-ratelimited"] == "true"
    assert ours[5][1]["x-ratelimit-limit"] == '1, 1;w=60;name="login"'
    assert our_calls[4] == ("api", [(("remote_address", "127.0.0.1"),
                                     ("header_match", "login")),
                                    (("generic_key", "all"),), (("plan", "free"),)])
    assert our_calls[-1] == ("api", [(("user", "dave"),), (("generic_key", "all"),)])
    native, native_calls = _run_traffic(None, service)
    assert ours == native
    assert our_calls == native_calls  # the same descriptors, in the same order


FAILURES = {
    "service error": ("ratelimit", grpc.StatusCode.UNAVAILABLE, 0.0),
    "late answer": ("ratelimit", None, 1.5),
    "unreachable service": ("gone", None, 0.0),
}


@pytest.mark.parametrize("deny", [False, True], ids=["fail open", "fail closed"])
@pytest.mark.parametrize("failure", list(FAILURES))
def test_failures_are_handled_as_envoys_native_ratelimit(module: Path,
                                                         service: RateLimitService,
                                                         failure: str, deny: bool) -> None:
    cluster, status, delay = FAILURES[failure]
    config = copy.deepcopy(CONFIG)
    config["global"].update(cluster=cluster, timeout_ms=300, failure_mode_deny=deny,
                            status_on_error=503)
    verdicts = []
    for engine in (module, None):
        service.reset()
        service.fail_with, service.delay_s = status, delay
        with _envoy(engine, config, service) as envoy:
            verdicts.append(_send(envoy, "/a", {"x-user": "carol"}))
    ours, native = verdicts
    assert ours[0] == (503 if deny else 200), failure
    assert ours == native

"""Our module and Envoy's native jwt_authn in ONE Envoy, configured alike, several
configurations at once: each configuration gets two listeners (ours, native) in the same
bootstrap, so a whole differential corpus costs one Envoy start.

``answer_side_by_side(module, groups)`` sends every request of every group to both listeners
of its group (one at a time, a fresh connection each) and returns, per request, what each
filter answered and what reached the upstream.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from meshwasm.deploy.envoy.config import EnvoyOptions, bootstrap, wasm_filter
from meshwasm.deploy.envoy.process import start_envoy
from meshwasm.deploy.envoy.replay import send_request, wait_connections_closed
from meshwasm.deploy.envoy.upstream import run_upstream
from meshwasm.replay.model import HttpRequest
from meshwasm_testkit.native_peers import native_translation


#: Response headers both filters set; request headers the upstream sees that a filter sets.
RESPONSE_HEADERS = ("www-authenticate",)
UPSTREAM_HEADERS = ("x-jwt-sub", "x-jwt-payload", "x-jwt-claim", "authorization")


@dataclass(frozen=True)
class Group:
    """Requests answered under one configuration (ours; the native one is translated)."""

    name: str
    config: dict[str, Any]
    requests: tuple[tuple[str, HttpRequest], ...]  # (case name, request)


@dataclass(frozen=True)
class Answer:
    """What one filter did with one request, as compared."""

    status: int
    body: str
    response_headers: tuple[str | None, ...]
    upstream: tuple[tuple[str, tuple[str, ...]], ...] | None  # None: upstream not reached


def _listener(name: str, template: dict[str, Any], http_filter: dict[str, Any]) -> dict[str, Any]:
    listener = copy.deepcopy(template)
    listener["name"] = name
    listener["address"]["socket_address"]["port_value"] = 0
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"].insert(0, http_filter)
    return listener


def side_by_side_bootstrap(module: Path | None, upstream_port: int,
                           groups: list[Group]) -> dict[str, Any]:
    """Listeners ``ours-<i>`` and ``native-<i>`` for each group ``i``, in one bootstrap
    (``module`` None: the native ones only, to learn Envoy's answers)."""
    base = EnvoyOptions(upstream_port=upstream_port)
    config = bootstrap(base)
    template = config["static_resources"]["listeners"][0]
    listeners = []
    for index, group in enumerate(groups):
        if module is not None:
            ours = replace(base, module=module, vm_id=f"jwt{index}", plugin_name=f"jwt{index}",
                           plugin_config=json.dumps(group.config).encode())
            listeners.append(_listener(f"ours-{index}", template, wasm_filter(ours)))
        [native] = native_translation("jwt_authn").http_filters(group.config)
        listeners.append(_listener(f"native-{index}", template, native))
    config["static_resources"]["listeners"] = listeners
    return config


def _ports(admin: str) -> dict[str, int]:
    statuses = json.loads(admin).get("listener_statuses", [])
    return {status["name"]: int(status["local_address"]["socket_address"]["port_value"])
            for status in statuses}


def answer_side_by_side(module: Path | None, groups: list[Group], workdir: Path | None = None
                        ) -> dict[str, tuple[Answer, ...]]:
    """``{case name: (ours, native)}`` for every request of every group (``(native,)``
    when ``module`` is None)."""
    answers: dict[str, tuple[Answer, ...]] = {}
    sides = ("native",) if module is None else ("ours", "native")
    with run_upstream() as upstream:
        options = EnvoyOptions(upstream_port=upstream.port)
        config = side_by_side_bootstrap(module, upstream.port, groups)
        with start_envoy(options, config=config, workdir=workdir, ready_timeout=120) as envoy:
            ports = _ports(envoy.admin("/listeners?format=json"))
            for index, group in enumerate(groups):
                for case, request in group.requests:
                    pair = tuple(_send(envoy, upstream, ports[f"{side}-{index}"], request)
                                 for side in sides)
                    answers[f"{group.name}: {case}"] = pair
    return answers


def _send(envoy: Any, upstream: Any, port: int, request: HttpRequest) -> Answer:
    seen = len(upstream.received)
    status, headers, body = send_request(port, request)
    wait_connections_closed(envoy)
    received = upstream.received
    reached = received[seen] if len(received) > seen else None
    response = dict(headers)
    forwarded = None
    if reached is not None:
        forwarded = tuple((name, tuple(value for key, value in reached.headers if key == name))
                          for name in UPSTREAM_HEADERS) + (("path", (reached.path,)),)
    return Answer(status, body.decode("utf-8", "replace"),
                  tuple(response.get(name) for name in RESPONSE_HEADERS), forwarded)

"""Envoy CPU per request for many filters at once: one Envoy, one listener per filter.

Comparing per-request CPU across *separate* Envoy processes was dominated by the processes
themselves: the no-filter Envoy costs ~300 us per keep-alive request on these machines and
moves by +-30% from one process to the next, which swamps the 5-60 us a filter adds.  Here
every variant is a listener of the same Envoy (same worker thread, same allocator, same
everything), and the variants' requests go in small batches, round-robin, rotating the
order each round: a drift of the machine hits every variant alike, and a variant's *added*
cost is a difference between listeners of one process.

A variant is a bootstrap of its own (``meshwasm.deploy.envoy.config.bootstrap`` or a native
filter's); its listener is renamed and given its own port, its wasm plugin its own VM id, and
the clusters of all of them are merged (same name: the same cluster, or an error).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from meshwasm.deploy.envoy.config import WASM_FILTER, EnvoyOptions, free_port
from meshwasm.deploy.envoy.process import EnvoyProcess, start_envoy

from envoy_load import Request, serial_cpu_us


@dataclass(frozen=True)
class Listener:
    """One variant: its bootstrap (one listener), warm-up requests and measured requests."""

    key: str
    config: dict[str, Any]
    warmup: list[Request]
    load: list[Request]


def _wasm_configs(listener: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for chain in listener.get("filter_chains", []):
        for network_filter in chain.get("filters", []):
            for http_filter in network_filter.get("typed_config", {}).get("http_filters", []):
                if http_filter.get("name") == WASM_FILTER:
                    yield http_filter["typed_config"]["config"]


def merged_bootstrap(listeners: list[Listener]) -> tuple[dict[str, Any], dict[str, int]]:
    """One bootstrap serving every listener on its own loopback port; and key -> port."""
    merged: dict[str, Any] | None = None
    clusters: dict[str, dict[str, Any]] = {}
    ports: dict[str, int] = {}
    for item in listeners:
        config = copy.deepcopy(item.config)
        (listener,) = config["static_resources"]["listeners"]
        ports[item.key] = free_port()
        listener["name"] = f"bench_{item.key}"
        listener["address"]["socket_address"]["port_value"] = ports[item.key]
        for wasm in _wasm_configs(listener):  # its own VM (and plugin stats)
            wasm["name"] = wasm["vm_config"]["vm_id"] = item.key
        for cluster in config["static_resources"].get("clusters", []):
            known = clusters.setdefault(cluster["name"], cluster)
            if known != cluster:
                raise ValueError(f"{item.key}: cluster {cluster['name']!r} differs from "
                                 "another variant's cluster of that name")
        if merged is None:
            merged = config
            merged["static_resources"]["listeners"] = []
        merged["static_resources"]["listeners"].append(listener)
    if merged is None:
        raise ValueError("no listeners to merge")
    merged["static_resources"]["clusters"] = list(clusters.values())
    return merged, ports


@contextmanager
def shared_envoy(listeners: list[Listener], options: EnvoyOptions,
                 ready_timeout: float) -> Iterator[tuple[EnvoyProcess, dict[str, int]]]:
    """Envoy serving every listener (``options``: workers and upstream), warmed up."""
    config, ports = merged_bootstrap(listeners)
    with start_envoy(options, config=config, wasm_log_level="error",
                     ready_timeout=ready_timeout) as envoy:
        for item in listeners:
            if item.warmup:
                serial_cpu_us(envoy, item.warmup, [], port=ports[item.key])
        yield envoy, ports


def batches(requests: list[Request], count: int) -> list[list[Request]]:
    """``requests`` cut into ``count`` consecutive batches (the last takes the rest)."""
    size = max(1, len(requests) // count)
    return [requests[index * size:(index + 1) * size if index < count - 1 else None]
            for index in range(count)]


def round_robin_cpu(listeners: list[Listener], options: EnvoyOptions, rounds: int,
                    ready_timeout: float,
                    progress: Callable[[str], None]) -> dict[str, list[dict[str, float]]]:
    """Per listener, Envoy CPU per request (us) of each of ``rounds`` batches of its load,
    sent round-robin through one Envoy (order rotated each round)."""
    cut = {item.key: batches(item.load, rounds) for item in listeners}
    samples: dict[str, list[dict[str, float]]] = {item.key: [] for item in listeners}
    with shared_envoy(listeners, options, ready_timeout) as (envoy, ports):
        for round_index in range(rounds):
            progress(f"CPU round {round_index + 1}/{rounds}")
            shift = round_index % len(listeners)
            for item in listeners[shift:] + listeners[:shift]:
                cost = serial_cpu_us(envoy, cut[item.key][round_index], [], port=ports[item.key])
                samples[item.key].append({"us": cost})
    return samples

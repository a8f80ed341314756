"""A chain of plugins in real Envoy: one ``envoy.filters.http.wasm`` filter per plugin, in
chain order, before the router — what Istio generates for the WasmPlugins of a workload.

Each plugin gets Envoy's plugin ``name`` (its log lines say ``wasm log <name> ...``), its
``root_id`` (the manifest's ``pluginName``), a ``vm_id`` of its own (its name: shared data
and queues are per plugin, as in the harness), its configuration and its failure policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from meshwasm.deploy.envoy.config import EnvoyOptions, bootstrap, wasm_filter
from meshwasm.deploy.envoy.replay import replay_in_envoy
from meshwasm.deploy.istio.plugin_chain import ChainPlugin
from meshwasm.failure_policy import FAIL_CLOSED
from meshwasm.replay.model import Traffic, Verdict


def chain_filters(options: EnvoyOptions, chain: Sequence[ChainPlugin],
                  default_config: bytes) -> list[dict[str, Any]]:
    """The wasm filter entries of ``chain``, in order (``options`` gives the defaults)."""
    filters = []
    for plugin in chain:
        if plugin.module.suffix != ".wasm" and plugin.module.suffix != "":
            raise ValueError(f"plugin {plugin.name}: Envoy runs modules, not "
                             f"{plugin.module.name}: build it first")
        plugin_options = replace(
            options, module=Path(plugin.module), plugin_name=plugin.name, vm_id=plugin.name,
            root_id=plugin.root_id,
            plugin_config=default_config if plugin.plugin_config is None
            else plugin.plugin_config,
            failure_policy=plugin.failure_policy or options.failure_policy)
        filters.append(wasm_filter(plugin_options))
    return filters


def chain_bootstrap(options: EnvoyOptions, chain: Sequence[ChainPlugin],
                    default_config: bytes) -> dict[str, Any]:
    """``config.bootstrap`` with the chain's filters before the router."""
    config = bootstrap(replace(options, module=None))
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"]
    hcm["http_filters"][:0] = chain_filters(options, chain, default_config)
    return config


def replay_chain_in_envoy(chain: Sequence[ChainPlugin], traffic: Traffic, *,
                          failure_policy: str = FAIL_CLOSED, workers: int | None = None,
                          workdir: Path | None = None,
                          ready_timeout: float | None = None) -> list[Verdict]:
    """``replay.replay_in_envoy`` with the chain's filters in place of one module.
    Envoy compiles every module before it is ready: by default it gets 20 s per plugin."""
    return replay_in_envoy(
        None, traffic, failure_policy=failure_policy, workers=workers, workdir=workdir,
        ready_timeout=ready_timeout or 20.0 * max(1, len(chain)),
        bootstrap_for=lambda options: chain_bootstrap(options, chain, traffic.plugin_config))

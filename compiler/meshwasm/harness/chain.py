"""Replay traffic through a chain of plugins, in the order Envoy's filter chain runs them.

Each worker has one VM per plugin (all on one ``Proxy``: one clock, stats store, shared data,
log).  A request goes through the plugins as Envoy's filter manager sends it:

- decoding in chain order: each plugin's request callbacks see what the plugins before it
  let through (their header changes included); the last one's request goes upstream;
- encoding in reverse order: the upstream's response reaches the last plugin first;
- a local reply sent from a request callback of plugin *k* goes through the response
  callbacks of plugin *k* and every plugin before it; the plugins after *k* never saw the
  stream and get no callback at all (Envoy's wasm filter skips a stream whose context it
  did not create) — pinned by ``runtime_tests/test_chains.py`` against Envoy 1.40;
- a local reply sent from a response callback replaces the response and goes straight to the
  client, past the earlier plugins' response callbacks; a reset ends the stream for all;
- each plugin has its own failure policy: a trap answers its stream 503 through the earlier
  plugins' response callbacks; later, a failed VM answers 503 (``FAIL_CLOSED``), is skipped
  (``FAIL_OPEN``) or reloaded (``FAIL_RELOAD``);
- once the response is complete, every plugin that ran for the stream runs its access log
  and is destroyed (``on_log``, ``on_done``, ``on_delete``), in chain order.

Known difference (docs/harness-semantics.md): the harness hands a plugin's whole request
(headers, body, trailers) on before the next plugin sees its headers, where Envoy interleaves
them chunk by chunk; verdicts agree, the order of log lines of different plugins in the
body phase may not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from meshwasm.deploy.istio.plugin_chain import ChainPlugin
from meshwasm.failure_policy import FAIL_CLOSED
from meshwasm.harness import source_watchdog
from meshwasm.harness.envoy_http import client_response_headers
from meshwasm.harness.errors import HarnessError
from meshwasm.harness.headers import HeaderMap
from meshwasm.harness.host import HostOptions, replay_options
from meshwasm.harness.replay import CompiledPlugin
from meshwasm.harness.shared import Proxy
from meshwasm.harness.stream import HopResponse, PluginRunner, Served
from meshwasm.harness.workers import Workers
from meshwasm.replay.model import FROM_TRAFFIC, Exchange, FromTraffic, HttpRequest, Traffic, Verdict


class ChainRunner:
    """One worker's VMs of every plugin of a chain, in chain order."""

    def __init__(self, plugins: Sequence[tuple[str, PluginRunner]]) -> None:
        if not plugins:
            raise HarnessError("a chain needs at least one plugin")
        self.plugins = list(plugins)
        self.proxy = plugins[0][1].host.proxy

    def run(self, exchange: Exchange) -> Verdict:
        """Replay one exchange through the chain; its verdict."""
        started = self.proxy.clock.now_ms
        upstream: list[HttpRequest] = []
        served: list[tuple[int, Served]] = []

        def through(index: int,
                    incoming: tuple[HeaderMap, bytes, HeaderMap | None] | None) -> HopResponse:
            runner = self.plugins[index][1]
            rest = None if index + 1 == len(self.plugins) else \
                (lambda headers, body, trailers: through(index + 1, (headers, body, trailers)))
            result = runner.serve(exchange, upstream, incoming, rest)
            served.append((index, result))
            return result.response()

        first = through(0, None)
        for index, result in sorted(served, key=lambda pair: pair[0]):
            self.plugins[index][1].finish(result)
        notes = [f"{self.plugins[index][0]}: {note}"
                 for index, result in sorted(served, key=lambda pair: pair[0])
                 for note in result.notes]
        headers: list[tuple[str, str]] = []
        if first.status:
            headers = client_response_headers(first.headers, first.body,
                                              first.close_connection,
                                              trailers=first.trailers is not None)
        return Verdict(status=first.status, headers=headers, body=first.body,
                       upstream_request=upstream[0] if upstream else None, notes=notes,
                       elapsed_ms=self.proxy.clock.now_ms - started,
                       trailers=[] if first.trailers is None
                       else first.trailers.text_pairs(False))


def _plugin_runner(plugin: ChainPlugin, config: bytes, options: HostOptions,
                   proxy: Proxy) -> PluginRunner:
    """A started VM of ``plugin`` (from source when it is a filter's ``.py``)."""
    if plugin.module.suffix == ".py":
        from meshwasm.harness.source import SourcePlugin
        return SourcePlugin(plugin.module, config, options, proxy).runner
    return CompiledPlugin(plugin.module, config, options, proxy).runner


def start_chain_workers(chain: Sequence[ChainPlugin], traffic: Traffic, options: HostOptions,
                        failure_policy: str, workers: int | None = None) -> Workers:
    """``workers`` (default ``traffic.workers``) chains of VMs on one proxy.  A plugin's
    configuration is its manifest's ``pluginConfig``, else the traffic file's; its failure
    policy its manifest's ``failStrategy``, else ``failure_policy``."""
    proxy = Proxy(traffic.clusters, traffic.now_ns)
    chains = []
    for worker in range(workers or traffic.workers):
        plugins = []
        for plugin in chain:
            plugin_options = HostOptions(**{
                **vars(options), "worker": worker, "plugin_name": plugin.name,
                "root_id": plugin.root_id, "vm_id": plugin.name,
                "failure_policy": plugin.failure_policy or failure_policy})
            config = traffic.plugin_config if plugin.plugin_config is None \
                else plugin.plugin_config
            plugins.append((plugin.name, _plugin_runner(plugin, config, plugin_options,
                                                        proxy)))
        chains.append(ChainRunner(plugins))
    return Workers(chains, proxy)  # type: ignore[arg-type]  # ChainRunner runs as a runner


def replay_chain(chain: Sequence[ChainPlugin], traffic: Traffic, *, log_level: str = "info",
                 failure_policy: str = FAIL_CLOSED, workers: int | None = None,
                 time_limit_s: float | None | FromTraffic = FROM_TRAFFIC,
                 memory_limit_mb: int | None | FromTraffic = FROM_TRAFFIC,
                 on_verdict: Callable[[int, Verdict], None] | None = None,
                 ) -> list[Verdict]:
    """Every exchange of ``traffic`` through ``chain`` (already in filter-chain order), in
    the harness: compiled modules under wasmtime, ``.py`` filters from source.  One verdict
    per exchange (``on_verdict(index, verdict)`` as each is done); ``ModuleError`` when a
    plugin cannot start as Envoy would.  The limits default to the traffic file's
    ``harness_limits`` (None: no limit)."""
    options = replay_options(traffic, log_level, failure_policy, time_limit_s, memory_limit_mb)
    pool = start_chain_workers(chain, traffic, options, failure_policy, workers)
    # each request named for the message of a source plugin's callback stuck in C code
    return source_watchdog.replay_each(traffic, pool.run, on_verdict)


__all__ = ["ChainRunner", "replay_chain", "start_chain_workers"]

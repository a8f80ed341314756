"""Replay a traffic file against a compiled module in the harness.

A replay is one proxy (``harness.shared.Proxy``: virtual clock, shared data, queues, stats)
with ``traffic.workers`` VMs of the module, started in worker order.  Before each request
the virtual clock moves to its ``at`` (or stays where the previous response ended, if that is
later), firing every ``on_tick`` and later http_call answer due up to then in time order
(``harness/event_loop.py``); the request then goes to its ``worker`` or, by default, to the
next worker round-robin.  A verdict's log lines are every line any VM wrote since the
previous request ended (ticks, queue_ready and the stream itself), as an Envoy log would
show them; its metrics are the proxy's counters and gauges after the request.
"""

from __future__ import annotations

from pathlib import Path

import wasmtime

from meshwasm.failure_policy import FAIL_CLOSED
from meshwasm.harness.host import Host, HostOptions, replay_options
from meshwasm.harness.shared import Proxy
from meshwasm.harness.stream import PluginRunner
from meshwasm.harness.workers import Workers
from meshwasm.harness.wasm.engine import WasmGuest, load_module
from meshwasm.replay.model import FROM_TRAFFIC, Exchange, FromTraffic, LogLine, Traffic, Verdict


class CompiledPlugin:
    """A module loaded, started and configured in a fresh harness VM, ready for requests.

    Usable on its own to drive requests one by one (``run``) and inspect the host model.
    Several plugins given the same ``proxy`` are the worker VMs of one Envoy.
    """

    def __init__(self, module_path: Path, plugin_config: bytes,
                 options: HostOptions | None = None, proxy: Proxy | None = None,
                 module: wasmtime.Module | None = None) -> None:
        self.host = Host(plugin_config, options, proxy)
        loaded = module or load_module(Path(module_path))
        label = str(module_path)

        def new_guest(host: Host) -> WasmGuest:
            return WasmGuest(loaded, host, label=label)

        self.guest = new_guest(self.host)
        self.runner = PluginRunner(self.host, self.guest, label=label, new_guest=new_guest)
        self.startup_logs: list[LogLine] = self.runner.start()

    def run(self, exchange: Exchange) -> Verdict:
        """Replay one ``Exchange``; returns its ``Verdict``."""
        return self.runner.run(exchange)


def start_workers(module_path: Path, traffic: Traffic, options: HostOptions,
                  workers: int | None = None) -> Workers:
    """Start ``workers`` (default ``traffic.workers``) VMs of the module in one proxy."""
    count = workers or traffic.workers
    proxy = Proxy(traffic.clusters, traffic.now_ns, traffic.grpc)
    module = load_module(Path(module_path))
    runners = []
    for index in range(count):
        worker_options = HostOptions(**{**vars(options), "worker": index})
        plugin = CompiledPlugin(module_path, traffic.plugin_config, worker_options, proxy,
                                module)
        runners.append(plugin.runner)
    return Workers(runners, proxy)


def replay_module(module_path: Path, traffic: Traffic, *, log_level: str = "info",
                  failure_policy: str = FAIL_CLOSED, workers: int | None = None,
                  time_limit_s: float | None | FromTraffic = FROM_TRAFFIC,
                  ) -> list[Verdict]:
    """Run every exchange of ``traffic`` through the module at ``module_path``, in order, in
    ``workers`` VMs (default: the traffic file's ``workers``, 1 unless set) sharing one
    proxy, and return one ``Verdict`` per exchange.

    ``log_level`` is the host's level (Envoy's default for wasm is ``info``): lower lines
    are dropped and ``proxy_get_log_level`` reports it.  Raises ``ModuleError`` when the
    module cannot be loaded, linked or started as Envoy would.  ``failure_policy`` is
    Envoy's plugin option for a VM that failed (``meshwasm.failure_policy``).
    ``time_limit_s``: the harness's own limit per callback (None: none; by default the
    traffic file's ``harness_limits``); a callback past it is stopped and fails the VM as a
    trap, with a note in the verdict.
    """
    options = replay_options(traffic, log_level, failure_policy, time_limit_s)
    pool = start_workers(module_path, traffic, options, workers)
    return [pool.run(exchange) for exchange in traffic.exchanges]

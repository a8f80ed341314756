"""Replay a traffic file against a compiled module in the harness."""

from __future__ import annotations

from pathlib import Path

from meshwasm.harness import abi
from meshwasm.harness.host import Host, HostOptions
from meshwasm.harness.stream import PluginRunner
from meshwasm.harness.wasm.engine import WasmGuest, load_module
from meshwasm.replay.model import Exchange, LogLine, Traffic, Verdict


class CompiledPlugin:
    """A module loaded, started and configured in a fresh harness VM, ready for requests.

    Usable on its own to drive requests one by one (``run``) and inspect the host model.
    """

    def __init__(self, module_path: Path, plugin_config: bytes,
                 options: HostOptions | None = None) -> None:
        self.host = Host(plugin_config, options)
        module = load_module(Path(module_path))
        self.guest = WasmGuest(module, self.host, label=str(module_path))
        self.runner = PluginRunner(self.host, self.guest, label=str(module_path))
        self.startup_logs: list[LogLine] = self.runner.start()

    def run(self, exchange: Exchange) -> Verdict:
        """Replay one ``Exchange``; returns its ``Verdict``."""
        return self.runner.run(exchange)


def replay_module(module_path: Path, traffic: Traffic, *, log_level: str = "info",
                  fail_open: bool = False) -> list[Verdict]:
    """Run every exchange of ``traffic`` through the module at ``module_path``, in order, in
    one VM (as one Envoy worker would), and return one ``Verdict`` per exchange.

    ``log_level`` is the host's level (Envoy's default for wasm is ``info``): lower lines
    are dropped and ``proxy_get_log_level`` reports it.  Raises ``ModuleError`` when the
    module cannot be loaded, linked or started as Envoy would.  ``fail_open`` is Envoy's
    plugin option: after the VM failed, requests pass through instead of getting a 503.
    """
    options = HostOptions(log_level=abi.log_level_number(log_level), fail_open=fail_open)
    plugin = CompiledPlugin(module_path, traffic.plugin_config, options)
    return [plugin.run(exchange) for exchange in traffic.exchanges]

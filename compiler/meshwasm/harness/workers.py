"""The worker VMs of one proxy, whichever engine runs them (compiled modules under
wasmtime, filters from source, or a chain of plugins): requests go to a worker round-robin
or by their ``worker:``, after the proxy's event loop has let time pass up to their ``at``.
"""

from __future__ import annotations

from meshwasm.harness.errors import HarnessError
from meshwasm.harness.grpc import merged_grpc
from meshwasm.harness.shared import Proxy
from meshwasm.harness.stream import PluginRunner
from meshwasm.replay.model import Exchange, LogLine, Verdict


class Workers:
    """The worker VMs of one proxy and the event loop that drives them."""

    def __init__(self, runners: list[PluginRunner], proxy: Proxy) -> None:
        if not runners:
            raise HarnessError("a replay needs at least one worker")
        self.runners = runners
        self.proxy = proxy
        self._next = 0

    def advance_to(self, at_ms: int) -> None:
        """Fire every timed event (ticks, later http_call answers) due up to ``at_ms`` in
        time order, then set the clock to it (``harness/event_loop.py``)."""
        self.proxy.loop.advance_to(at_ms)

    def run(self, exchange: Exchange) -> Verdict:
        """Advance to the exchange's time and replay it on its worker."""
        if exchange.worker is not None and not 0 <= exchange.worker < len(self.runners):
            raise HarnessError(f"request {exchange.name!r} (line {exchange.line}): worker "
                               f"{exchange.worker} does not exist (workers: "
                               f"{len(self.runners)}, numbered from 0)")
        mark = len(self.proxy.log_lines)
        self.advance_to(exchange.at_ms)
        if exchange.worker is None:
            index, self._next = self._next, (self._next + 1) % len(self.runners)
        else:
            index = exchange.worker
        defaults, grpc_defaults = dict(self.proxy.clusters), self.proxy.grpc
        self.proxy.clusters.update(exchange.clusters)
        self.proxy.grpc = merged_grpc(grpc_defaults, exchange.grpc)
        try:
            verdict = self.runners[index].run(exchange)
        finally:
            self.proxy.clusters, self.proxy.grpc = defaults, grpc_defaults
        verdict.logs = self.proxy.log_lines[mark:]
        verdict.metrics = self.proxy.metric_values()
        return verdict

    def stop(self) -> list[LogLine]:
        """Stop every worker's plugin (``PluginRunner.stop``); their log lines meanwhile."""
        mark = len(self.proxy.log_lines)
        for runner in self.runners:
            runner.stop()
        return self.proxy.log_lines[mark:]

"""The VM-wide part of the host model: contexts, logs, clock, shared data, metrics.

One ``Host`` stands for one Envoy worker's Wasm VM with one plugin.  It is pure Python and
engine-agnostic: the wasmtime engine binds ``proxy_*`` imports to it, a source engine can
bind the SDK's raw host-call layer to the same object.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

from meshwasm.harness import abi
from meshwasm.harness.context import Context
from meshwasm.replay.model import HttpRequest, LogLine


@dataclass
class HostOptions:
    """Knobs of the emulated Envoy; the defaults are Envoy's."""

    plugin_name: str = "meshwasm"
    root_id: str = ""
    vm_id: str = ""
    vm_config: bytes = b""
    log_level: int = abi.LOG_INFO  # Envoy's default for the wasm log component
    fail_open: bool = False  # after a VM failure, pass requests through instead of 503
    clock_ns: Callable[[], int] = time.time_ns
    monotonic_ns: Callable[[], int] = time.monotonic_ns


class Host:
    """Contexts by id, the context whose callback runs now, and VM-wide data."""

    ROOT_CONTEXT_ID = 1  # 0 is the VM context in Envoy; the first root context gets 1

    def __init__(self, plugin_config: bytes, options: HostOptions | None = None) -> None:
        self.options = options or HostOptions()
        self.plugin_config = plugin_config
        self.vm_config = self.options.vm_config
        self.log_level = self.options.log_level
        self.clock_ns = self.options.clock_ns
        self.monotonic_ns = self.options.monotonic_ns
        self.root = Context(self, self.ROOT_CONTEXT_ID)
        self.contexts: dict[int, Context] = {self.root.id: self.root}
        self._ids = itertools.count(self.ROOT_CONTEXT_ID + 1)
        # The context of the callback in progress, and the one set by
        # proxy_set_effective_context (which wins while it exists).
        self.current: Context = self.root
        self.effective_id = 0
        self.failed: str | None = None  # why the VM died (a trap), once it has
        self.shared_data: dict[bytes, tuple[bytes, int]] = {}
        self._cas = itertools.count(1)
        self.metrics: dict[int, list] = {}  # id -> [type, name, value]
        self._metric_ids: dict[tuple[int, bytes], int] = {}
        self.tick_period_ms = 0
        self.pending_done: set[int] = set()

    # -- contexts --------------------------------------------------------------------------
    def new_stream(self, request: HttpRequest) -> Context:
        context = Context(self, next(self._ids), root_id=self.root.id, request=request)
        self.contexts[context.id] = context
        return context

    def drop(self, context: Context) -> None:
        self.contexts.pop(context.id, None)

    def enter(self, context: Context) -> None:
        """Mark ``context`` as the one whose callback is about to run."""
        self.current = context
        self.effective_id = 0

    def active(self) -> Context:
        """The context host calls act on: the effective one if set and alive, else current."""
        if self.effective_id:
            context = self.contexts.get(self.effective_id)
            if context is not None:
                return context
        return self.current

    def set_effective_context(self, context_id: int) -> int:
        if context_id not in self.contexts:
            return abi.BAD_ARGUMENT
        self.effective_id = context_id
        return abi.OK

    def done(self) -> int:
        """``proxy_done``: only meaningful for a root context that delayed its shutdown."""
        context = self.active()
        if context.id not in self.pending_done:
            return abi.NOT_FOUND
        self.pending_done.discard(context.id)
        return abi.OK

    # -- logs ------------------------------------------------------------------------------
    def log(self, level: int, message: bytes) -> int:
        """``proxy_log``; lines under the host's level are dropped, as Envoy's logger does."""
        if level < 0 or level > abi.LOG_CRITICAL:
            return abi.BAD_ARGUMENT
        if level >= self.log_level:
            self.active().logs.append(LogLine(abi.LOG_LEVELS[level],
                                              message.decode(errors="replace")))
        return abi.OK

    # -- shared data (one VM, so no vm_id namespace is needed) -----------------------------
    def get_shared_data(self, key: bytes) -> tuple[int, bytes, int]:
        entry = self.shared_data.get(key)
        if entry is None:
            return abi.NOT_FOUND, b"", 0
        return abi.OK, entry[0], entry[1]

    def set_shared_data(self, key: bytes, value: bytes, cas: int) -> int:
        entry = self.shared_data.get(key)
        if entry is not None and cas and cas != entry[1]:
            return abi.CAS_MISMATCH
        self.shared_data[key] = (value, next(self._cas))
        return abi.OK

    # -- metrics ---------------------------------------------------------------------------
    def define_metric(self, metric_type: int, name: bytes) -> tuple[int, int]:
        if metric_type > abi.METRIC_HISTOGRAM:
            return abi.BAD_ARGUMENT, 0
        key = (metric_type, name)
        metric_id = self._metric_ids.get(key)
        if metric_id is None:
            metric_id = len(self._metric_ids) + 1
            self._metric_ids[key] = metric_id
            self.metrics[metric_id] = [metric_type, name, 0]
        return abi.OK, metric_id

    def increment_metric(self, metric_id: int, offset: int) -> int:
        metric = self.metrics.get(metric_id)
        if metric is None:
            return abi.NOT_FOUND
        if metric[0] == abi.METRIC_HISTOGRAM:
            return abi.BAD_ARGUMENT
        if metric[0] == abi.METRIC_COUNTER and offset < 0:
            return abi.BAD_ARGUMENT
        metric[2] += offset
        return abi.OK

    def record_metric(self, metric_id: int, value: int) -> int:
        metric = self.metrics.get(metric_id)
        if metric is None:
            return abi.NOT_FOUND
        if metric[0] == abi.METRIC_COUNTER:
            metric[2] += value  # Envoy adds to a counter on record
        else:
            metric[2] = value
        return abi.OK

    def get_metric(self, metric_id: int) -> tuple[int, int]:
        metric = self.metrics.get(metric_id)
        if metric is None:
            return abi.NOT_FOUND, 0
        if metric[0] == abi.METRIC_HISTOGRAM:
            return abi.BAD_ARGUMENT, 0
        return abi.OK, metric[2]

    def metric_values(self) -> dict[str, int]:
        """Metric name -> current value, for tests and reports."""
        return {metric[1].decode(errors="replace"): metric[2] for metric in self.metrics.values()}

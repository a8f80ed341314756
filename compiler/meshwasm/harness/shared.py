"""What the VMs of one proxy share: the virtual clock, shared data, shared queues, the stats
store, the event loop (``harness/event_loop.py``), and one log of every line in the order it
was written.

One ``Proxy`` stands for one Envoy process; each of its ``Host`` objects is one worker's Wasm
VM.  Envoy's behaviour copied here (proxy-wasm-cpp-host ``shared_data.cc``,
``shared_queue.cc``; Envoy ``wasm.cc``):

- shared data is process-wide, keyed by ``(vm_id, key)``; every write bumps a per-key CAS
  version (starting at 1); a write with a non-zero stale CAS fails with CasMismatch;
- a queue is keyed by ``(vm_id, name)``.  Registering an existing name returns the same
  token and *retargets* it: ``proxy_on_queue_ready`` goes to the root context that registered
  it last (with several workers, the last worker VM to start).  Messages are kept;
- ``proxy_on_queue_ready`` is posted to the registering VM's thread and runs after the
  callback that enqueued has returned, once per message;
- metrics live in the proxy's stats store by name: two VMs that define ``requests`` update
  the same counter.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from meshwasm.harness import abi
from meshwasm.harness.event_loop import EventLoop, QueueDelivery
from meshwasm.replay.model import GrpcScripts, LogLine, UpstreamResponse

if TYPE_CHECKING:
    from meshwasm.harness.host import Host

#: The wall-clock instant the virtual timeline starts at: 2024-01-01T00:00:00Z.
EPOCH_NS = 1_704_067_200 * 1_000_000_000
#: Where the monotonic clock starts (any positive value; Envoy's is time since boot).
MONOTONIC_START_NS = 1_000_000_000


class VirtualClock:
    """Milliseconds since the replay started, moved forward only by the replay driver."""

    def __init__(self, epoch_ns: int = EPOCH_NS) -> None:
        self.now_ms = 0
        self.epoch_ns = epoch_ns  # the wall-clock time at 0 (a traffic file's ``now``)

    def advance_to(self, at_ms: int) -> None:
        """Move to ``at_ms``; the clock never goes back."""
        self.now_ms = max(self.now_ms, at_ms)

    def wall_ns(self) -> int:
        """``proxy_get_current_time_nanoseconds`` and WASI's realtime clock."""
        return self.epoch_ns + self.now_ms * 1_000_000

    def monotonic_ns(self) -> int:
        return MONOTONIC_START_NS + self.now_ms * 1_000_000


@dataclass
class _Queue:
    messages: deque[bytes] = field(default_factory=deque)
    host: Host | None = None  # the VM whose root context gets on_queue_ready
    context_id: int = 0


@dataclass
class Stat:
    """One metric in the proxy's stats store."""

    kind: int
    value: int = 0


class Proxy:
    """The process-wide state all worker VMs see."""

    def __init__(self, clusters: dict[str, UpstreamResponse] | None = None,
                 epoch_ns: int | None = None, grpc: GrpcScripts | None = None) -> None:
        self.clock = VirtualClock(EPOCH_NS if epoch_ns is None else epoch_ns)
        self._shared: dict[tuple[str, bytes], tuple[bytes, int]] = {}
        self._queues: dict[int, _Queue] = {}
        self._queue_tokens: dict[tuple[str, bytes], int] = {}
        self._next_token = itertools.count(1)
        self._stats: dict[bytes, Stat] = {}
        #: cluster name -> the answer an http_call to it gets (the replay may override it)
        self.clusters: dict[str, UpstreamResponse] = dict(clusters or {})
        #: gRPC cluster -> method -> what its server answers (the replay may override it)
        self.grpc: GrpcScripts = dict(grpc or {})
        #: every log line of every VM, in order (verdicts take the slice of their exchange)
        self.log_lines: list[LogLine] = []
        #: every timed and posted event of the worker VMs (ticks, answers, queue deliveries)
        self.loop = EventLoop(self.clock)

    @property
    def timeline(self) -> EventLoop:
        """The event loop, by the name it had when it only held timed events."""
        return self.loop

    @property
    def ready(self) -> list[tuple[Host, int, int]]:
        """``on_queue_ready`` calls posted and not yet run: (VM, root context, queue)."""
        return [(delivery.host, delivery.context_id, delivery.token)
                for delivery in self.loop.queue_deliveries()]

    # -- shared data -------------------------------------------------------------------
    def get_shared_data(self, vm_id: str, key: bytes) -> tuple[int, bytes, int]:
        entry = self._shared.get((vm_id, key))
        if entry is None:
            return abi.NOT_FOUND, b"", 0
        return abi.OK, entry[0], entry[1]

    def set_shared_data(self, vm_id: str, key: bytes, value: bytes, cas: int) -> int:
        entry = self._shared.get((vm_id, key))
        if entry is not None and cas and cas != entry[1]:
            return abi.CAS_MISMATCH
        version = entry[1] + 1 if entry is not None else 1
        self._shared[(vm_id, key)] = (value, version)
        return abi.OK

    # -- shared queues -----------------------------------------------------------------
    def register_queue(self, host: Host, vm_id: str, name: bytes, context_id: int) -> int:
        token = self._queue_tokens.get((vm_id, name))
        if token is None:
            token = next(self._next_token)
            self._queue_tokens[(vm_id, name)] = token
            self._queues[token] = _Queue()
        queue = self._queues[token]
        queue.host, queue.context_id = host, context_id
        return token

    def resolve_queue(self, vm_id: str, name: bytes) -> tuple[int, int]:
        token = self._queue_tokens.get((vm_id, name))
        return (abi.OK, token) if token is not None else (abi.NOT_FOUND, 0)

    def enqueue(self, token: int, data: bytes) -> int:
        queue = self._queues.get(token)
        if queue is None:
            return abi.NOT_FOUND
        queue.messages.append(data)
        if queue.host is not None:
            self.loop.post_queue_ready(QueueDelivery(queue.host, queue.context_id, token))
        return abi.OK

    def dequeue(self, token: int) -> tuple[int, bytes]:
        queue = self._queues.get(token)
        if queue is None:
            return abi.NOT_FOUND, b""
        if not queue.messages:
            return abi.EMPTY, b""
        return abi.OK, queue.messages.popleft()

    # -- stats -------------------------------------------------------------------------
    def stat(self, kind: int, name: bytes) -> Stat:
        """The stat ``name``, created on first definition (shared by every VM)."""
        metric = self._stats.get(name)
        if metric is None:
            metric = self._stats[name] = Stat(kind)
        return metric

    def metric_values(self) -> dict[str, int]:
        """Counter and gauge values by name (histograms have no single value)."""
        return {name.decode(errors="replace"): metric.value
                for name, metric in self._stats.items()
                if metric.kind != abi.METRIC_HISTOGRAM}

"""The VM-wide part of the host model: contexts, logs, clock, ticks, metric ids, http calls.

It only *enqueues* events (an http_call answer, a tick period); the proxy's event loop
(``harness/event_loop.py``) runs them.

One ``Host`` stands for one Envoy worker's Wasm VM with one plugin; what the VMs of one proxy
share (clock, shared data, queues, stats) lives in its ``Proxy`` (``harness/shared.py``).  It
is pure Python and engine-agnostic: the wasmtime engine binds ``proxy_*`` imports to it, a
source engine can bind the SDK's raw host-call layer to the same object.

Envoy's behaviour copied here (Envoy ``source/extensions/common/wasm/context.cc``, ``wasm.cc``):

- a tick period is per root context (set from a stream context, it applies to its root); the
  first tick comes one period after it was set, the next one period after that tick ran;
  period 0 stops ticks;
- ``proxy_http_call`` answers BadArgument for a cluster Envoy does not know and for headers
  without ``:method``, ``:path`` or ``:authority``.  The call belongs to the *root* context
  whatever context made it: the answer comes later (never during the call) to
  ``proxy_on_http_call_response(root_id, token, ...)``, and while it runs the HTTP_CALL_RESPONSE
  maps and buffer are readable from any context of the VM (an SDK routes the answer to the
  caller with ``proxy_set_effective_context``).  Tokens are even, from 4, per VM;
- a failed call is still *answered* (never with 0 headers): Envoy's async client runs a
  router whose local reply becomes the answer — an upstream reset gives ``503`` with body
  "upstream connect error or disconnect/reset before headers. reset reason: connection
  termination", a call still unanswered after its ``timeout_ms`` gives ``504`` "upstream
  request timeout" at that time; both with ``:status``, ``content-length`` and
  ``content-type: text/plain`` (pinned by
  ``runtime_tests/test_harness_timeline.py::test_envoy_agrees``).
  A cluster's ``delay_ms`` puts the answer that much later on the virtual timeline
  (``harness/event_loop.py``).  ``timeout_ms`` 0 means no timeout.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from meshwasm.failure_policy import FAIL_CLOSED, check_policy
from meshwasm.harness import abi
from meshwasm.harness.context import Context, HttpCallResponse, LocalReply
from meshwasm.harness.envoy_http import local_reply_headers, upstream_response_headers
from meshwasm.harness.grpc import GrpcClient, GrpcEvent
from meshwasm.harness.headers import HeaderMap
from meshwasm.harness.shared import Proxy, Stat
from meshwasm.replay.model import (FROM_TRAFFIC, FromTraffic, HttpRequest, LogLine, Traffic,
                                  UpstreamResponse)

#: What Envoy's async client answers an http_call whose upstream reset the connection.
RESET_ANSWER = LocalReply(503, b"upstream connect error or disconnect/reset before headers. "
                          b"reset reason: connection termination", [], -1, b"")
#: ... and one still unanswered after the call's timeout_ms.
TIMEOUT_ANSWER = LocalReply(504, b"upstream request timeout", [], -1, b"")


@dataclass
class HostOptions:
    """Knobs of the emulated Envoy; the defaults are Envoy's."""

    plugin_name: str = "meshwasm"
    root_id: str = ""
    vm_id: str = ""
    vm_config: bytes = b""
    log_level: int = abi.LOG_INFO  # Envoy's default for the wasm log component
    #: after a VM failure: FAIL_CLOSED (503), FAIL_OPEN (pass through), FAIL_RELOAD (a new
    #: VM for the next request); see meshwasm.failure_policy
    failure_policy: str = FAIL_CLOSED
    #: None: the proxy's virtual clock (a fixed epoch + the traffic file's ``at``)
    clock_ns: Callable[[], int] | None = None
    monotonic_ns: Callable[[], int] | None = None
    worker: int = 0  # which worker VM this is (0-based)
    #: Guards of the harness itself (Envoy has none; see docs/harness-semantics.md): a callback
    #: running longer than this many seconds of wall-clock time is stopped and fails the VM as
    #: a trap would; None: no limit.
    callback_time_limit_s: float | None = 30.0
    #: source mode: how much memory a request (or tick) may add to this process, in MiB;
    #: past it the filter gets MemoryError.  None: no limit.
    source_memory_limit_mb: int | None = 1024


def replay_options(traffic: Traffic, log_level: str, failure_policy: str,
                   time_limit_s: float | None | FromTraffic,
                   memory_limit_mb: int | None | FromTraffic = FROM_TRAFFIC) -> HostOptions:
    """The host options of a replay's arguments; a limit left ``FROM_TRAFFIC`` is the traffic
    file's ``harness_limits`` (else their defaults)."""
    limits = traffic.limits
    return HostOptions(
        log_level=abi.log_level_number(log_level), failure_policy=check_policy(failure_policy),
        callback_time_limit_s=(limits.callback_time_limit_s if time_limit_s is FROM_TRAFFIC
                               else time_limit_s),
        source_memory_limit_mb=(limits.memory_limit_mb if memory_limit_mb is FROM_TRAFFIC
                                else memory_limit_mb))


@dataclass
class PendingCall:
    """An http_call whose answer the driver delivers once the current callback returned."""

    context_id: int  # the root context, which Envoy makes the owner of every call
    token: int
    response: HttpCallResponse
    due_ms: int = 0  # virtual time the answer arrives


def call_answer(answer: UpstreamResponse, timeout_ms: int) -> tuple[int, HttpCallResponse]:
    """(delay ms, answer) of an http_call to a cluster declared as ``answer``."""
    if timeout_ms and answer.delay_ms >= timeout_ms:
        reply = TIMEOUT_ANSWER
        return timeout_ms, HttpCallResponse(local_reply_headers(reply), reply.body, HeaderMap())
    if answer.reset:
        reply = RESET_ANSWER
        return answer.delay_ms, HttpCallResponse(local_reply_headers(reply), reply.body,
                                                 HeaderMap())
    return answer.delay_ms, HttpCallResponse(upstream_response_headers(answer), answer.body,
                                             HeaderMap())


class Host:
    """Contexts by id, the context whose callback runs now, and VM-wide data."""

    ROOT_CONTEXT_ID = 1  # 0 is the VM context in Envoy; the first root context gets 1

    def __init__(self, plugin_config: bytes, options: HostOptions | None = None,
                 proxy: Proxy | None = None) -> None:
        self.options = options or HostOptions()
        self.proxy = proxy or Proxy()
        self.plugin_config = plugin_config
        self.vm_config = self.options.vm_config
        self.log_level = self.options.log_level
        self.clock_ns = self.options.clock_ns or self.proxy.clock.wall_ns
        self.monotonic_ns = self.options.monotonic_ns or self.proxy.clock.monotonic_ns
        self.root = Context(self, self.ROOT_CONTEXT_ID)
        self.contexts: dict[int, Context] = {self.root.id: self.root}
        self._ids = itertools.count(self.ROOT_CONTEXT_ID + 1)
        # The context of the callback in progress, and the one set by
        # proxy_set_effective_context (which wins while it exists).
        self.current: Context = self.root
        self.effective_id = 0
        self.failed: str | None = None  # why the VM died (a trap), once it has
        self.failed_at_ms = 0  # virtual time it died at
        self._metric_ids: dict[tuple[int, bytes], int] = {}
        self._metric_names: dict[int, tuple[int, bytes]] = {}  # id -> (type, name)
        self.pending_done: set[int] = set()
        self._call_tokens = itertools.count(4, 2)  # Envoy: even, from 4
        self.grpc = GrpcClient(self)  # proxy_grpc_*
        #: property names declared with the declare_property foreign function
        self.declared_properties: set[bytes] = set()
        #: the http_call answer being delivered, readable from every context of this VM
        self.http_call_response: HttpCallResponse | None = None

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

    # -- ticks (the proxy's event loop keeps them: harness/event_loop.py) ------------------
    @property
    def tick_period_ms(self) -> int:
        return self.proxy.loop.tick_period(self)

    @tick_period_ms.setter
    def tick_period_ms(self, period: int) -> None:
        """``proxy_set_tick_period_milliseconds``: the first tick comes one period from now."""
        self.proxy.loop.set_tick(self, period)

    @property
    def next_tick_ms(self) -> int | None:
        """Virtual time of the next on_tick (None: no ticks)."""
        return self.proxy.loop.next_tick(self)

    # -- http calls --------------------------------------------------------------------------
    def http_call(self, cluster: bytes, headers: list[tuple[bytes, bytes]], body: bytes,
                  trailers: list[tuple[bytes, bytes]], timeout_ms: int) -> tuple[int, int]:
        """``proxy_http_call``: (status, token).  The answer is queued in ``pending_calls``."""
        answer = self.proxy.clusters.get(cluster.decode(errors="replace"))
        if answer is None:
            return abi.BAD_ARGUMENT, 0
        names = {name.lower() for name, _ in headers}
        if not {b":method", b":path", b":authority"} <= names:
            return abi.BAD_ARGUMENT, 0
        token = next(self._call_tokens)
        delay, response = call_answer(answer, timeout_ms)
        due = self.proxy.clock.now_ms + delay
        self.proxy.loop.schedule(self, PendingCall(self.root.id, token, response, due))
        return abi.OK, token

    @property
    def pending_calls(self) -> list[PendingCall | GrpcEvent]:
        """This VM's http_call answers and gRPC callbacks still to deliver (a copy)."""
        return self.proxy.loop.answers(self)

    def due_call(self) -> PendingCall | GrpcEvent | None:
        """Take the earliest answer due now (``None``: none is)."""
        return self.proxy.loop.take_due_answer(self)

    # -- logs ------------------------------------------------------------------------------
    def log(self, level: int, message: bytes) -> int:
        """``proxy_log``; lines under the host's level are dropped, as Envoy's logger does."""
        if level < 0 or level > abi.LOG_CRITICAL:
            return abi.BAD_ARGUMENT
        if level >= self.log_level:
            line = LogLine(abi.LOG_LEVELS[level], message.decode(errors="replace"),
                           plugin=self.options.plugin_name)
            self.active().logs.append(line)
            self.proxy.log_lines.append(line)
        return abi.OK

    # -- shared data and queues (process-wide: see harness/shared.py) -------------------
    def get_shared_data(self, key: bytes) -> tuple[int, bytes, int]:
        return self.proxy.get_shared_data(self.options.vm_id, key)

    def set_shared_data(self, key: bytes, value: bytes, cas: int) -> int:
        return self.proxy.set_shared_data(self.options.vm_id, key, value, cas)

    def register_queue(self, name: bytes) -> tuple[int, int]:
        """``proxy_register_shared_queue``: on_queue_ready goes to this VM's root context."""
        context = self.active()
        root_id = context.root_id or context.id
        return abi.OK, self.proxy.register_queue(self, self.options.vm_id, name, root_id)

    def resolve_queue(self, vm_id: bytes, name: bytes) -> tuple[int, int]:
        return self.proxy.resolve_queue(vm_id.decode(errors="replace"), name)

    def enqueue(self, token: int, data: bytes) -> int:
        return self.proxy.enqueue(token, data)

    def dequeue(self, token: int) -> tuple[int, bytes]:
        return self.proxy.dequeue(token)

    # -- metrics: ids are this VM's, values are the proxy's stats -------------------------
    def define_metric(self, metric_type: int, name: bytes) -> tuple[int, int]:
        if metric_type > abi.METRIC_HISTOGRAM:
            return abi.BAD_ARGUMENT, 0
        key = (metric_type, name)
        metric_id = self._metric_ids.get(key)
        if metric_id is None:
            metric_id = len(self._metric_ids) + 1
            self._metric_ids[key] = metric_id
            self._metric_names[metric_id] = key
            self.proxy.stat(metric_type, name)
        return abi.OK, metric_id

    def _stat(self, metric_id: int) -> Stat | None:
        key = self._metric_names.get(metric_id)
        return None if key is None else self.proxy.stat(*key)

    def increment_metric(self, metric_id: int, offset: int) -> int:
        metric = self._stat(metric_id)
        if metric is None:
            return abi.NOT_FOUND
        if metric.kind == abi.METRIC_HISTOGRAM:
            return abi.BAD_ARGUMENT
        if metric.kind == abi.METRIC_COUNTER and offset < 0:
            return abi.BAD_ARGUMENT
        metric.value += offset
        return abi.OK

    def record_metric(self, metric_id: int, value: int) -> int:
        metric = self._stat(metric_id)
        if metric is None:
            return abi.NOT_FOUND
        if metric.kind == abi.METRIC_COUNTER:
            metric.value += value  # Envoy adds to a counter on record
        elif metric.kind == abi.METRIC_GAUGE:
            metric.value = value
        return abi.OK

    def get_metric(self, metric_id: int) -> tuple[int, int]:
        metric = self._stat(metric_id)
        if metric is None:
            return abi.NOT_FOUND, 0
        if metric.kind == abi.METRIC_HISTOGRAM:
            return abi.BAD_ARGUMENT, 0
        return abi.OK, metric.value

    def metric_values(self) -> dict[str, int]:
        """Metric name -> current value (of the whole proxy), for tests and reports."""
        return self.proxy.metric_values()
